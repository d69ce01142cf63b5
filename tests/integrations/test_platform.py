"""The platform interface's shared pieces: names within limits, people, wall-clock times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

from config.tenants import BrandConfig
from integrations import registry
from integrations.booking import BookingMessage, Person
from integrations.gomry.client import wall_clock
from integrations.platform import event_spec, split_name
from tests.support import booking

ZONES = ["America/New_York", "Europe/London", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC"]
names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=300)


@given(title=names, customer=names, kind=st.sampled_from(sorted(registry.PLATFORMS)))
def test_event_names_always_fit_the_platform(title: str, customer: str, kind: str) -> None:
    assume(title.strip() and customer.strip())
    message = BookingMessage.model_validate(
        {
            "tenant": "acme",
            "source": "generic",
            **booking("b-1", title=title, customer={"name": customer}),
        }
    )
    limit = registry.PLATFORMS[kind].name_max
    brand = BrandConfig(name_template="{customer.name} – {title}", qr_text="{title}")
    spec = event_spec(message, brand, name_max=limit)
    assert 1 <= len(spec.name) <= limit


def test_people_are_the_customer_and_attendees_once_each_by_email() -> None:
    message = BookingMessage.model_validate(
        {
            "tenant": "acme",
            "source": "generic",
            **booking(
                "b-2",
                attendees=[
                    {"name": "Zoë again", "email": "ZOE@example.com"},
                    {"name": "No email"},
                    {"name": "Sam", "email": "sam@example.com"},
                ],
            ),
        }
    )
    spec = event_spec(message, BrandConfig(), name_max=200)
    assert [p.email for p in spec.people] == ["zoe@example.com", "sam@example.com"]


@given(
    st.text(st.characters(blacklist_categories=["Cs", "Cc", "Z"]), min_size=1), st.integers(0, 3)
)
def test_split_name_keeps_every_word(word: str, extra_words: int) -> None:
    name = " ".join([word] * (extra_words + 1))
    first, last = split_name(Person(name=name))
    assert " ".join(p for p in (first, last) if p) == name
    assert (first, last) == ((" ".join([word] * extra_words), word) if extra_words else (word, ""))


@given(
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
)
def test_gomry_wall_clock_names_the_same_minute_unless_the_clock_repeats(
    instant: datetime, zone: str
) -> None:
    """Gomry reads ``start.utc`` as local time in ``timezone``; outside a DST fold (where a
    local time happens twice and Gomry cannot tell which) that is the booking's own minute."""
    local = instant.astimezone(ZoneInfo(zone))
    assume(local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset())
    sent = wall_clock(instant, zone)
    read = datetime.fromisoformat(sent["utc"]).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert read == instant.replace(second=0, microsecond=0)
    assert abs(read - instant) < timedelta(minutes=1)
