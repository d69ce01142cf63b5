"""The reconciler recognises our Gomry events by the reference line in their description: it
must find it whatever the brand's description says, and never in text that only looks like it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from integrations.booking import booking_reference
from integrations.gomry.client import _reference, reference_line


@given(
    key=st.text(min_size=1, max_size=40),
    before=st.text(max_size=300),
    after=st.sampled_from(["", "\n", "\n\nJoin online: https://meet.example/x"]),
)
def test_our_reference_line_is_found_in_any_description(key: str, before: str, after: str) -> None:
    reference = booking_reference(key)
    description = "\n\n".join([before, reference_line(reference)]) + after
    assert _reference(description) == reference


@given(text=st.text(max_size=200))
def test_text_without_a_whole_reference_line_is_not_ours(text: str) -> None:
    assert _reference(text.replace("Booking reference", "")) is None
    assert _reference(f"Booking reference: bw-{'0' * 31}") is None  # too short
    assert _reference(f"Booking reference: bw-{'0' * 32} (copy)") is None  # not the whole line
    assert _reference(None) is None
