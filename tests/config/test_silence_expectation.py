"""``expect_delivery_within`` in the tenants file: any ``<number><s|m|h|d|w>`` is read as that
many seconds; anything else is refused at load with its fix, never taken as "no expectation"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from config.tenants import SourceConfig
from worker.intake.source_health import Verdict

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
VALID = re.compile(r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$")


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted(UNITS)))
def test_a_duration_is_read_in_seconds(count: int, unit: str) -> None:
    config = SourceConfig(expect_delivery_within=f"{count}{unit}")
    assert config.expected_silence_seconds == count * UNITS[unit]


@given(st.text(max_size=12))
def test_anything_else_is_refused_with_its_fix(text: str) -> None:
    if VALID.match(text) and float(re.sub(r"[^\d.]", "", text)) > 0:
        return
    with pytest.raises(ValidationError, match="not a duration"):
        SourceConfig(expect_delivery_within=text)


def test_unset_means_no_expectation() -> None:
    assert SourceConfig().expected_silence_seconds is None


NOW = datetime(2026, 6, 20, 12, tzinfo=UTC)


@given(
    st.integers(min_value=0, max_value=10**7),
    st.one_of(st.none(), st.integers(min_value=1, max_value=10**7)),
    st.sampled_from([None, "active", "disabled", "missing", "unknown"]),
)
def test_a_source_is_silent_exactly_when_quiet_longer_than_expected(
    quiet: int, expect: int | None, subscription: str | None
) -> None:
    verdict = Verdict(
        tenant="acme",
        source="calendly",
        last_delivery=NOW - timedelta(seconds=quiet),
        expect_within=expect,
        subscription=subscription,
        checked_at=NOW,
    )
    assert verdict.silent == (expect is not None and quiet > expect)
    assert verdict.disabled == (subscription == "disabled")
    assert verdict.healthy == (not verdict.silent and not verdict.disabled)
    assert bool(verdict.problem()) == (not verdict.healthy)
