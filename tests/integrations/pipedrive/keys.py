"""The custom-field keys the Pipedrive fixtures use, and tenant options naming them."""

from __future__ import annotations

from typing import Any

from integrations.pipedrive.schemas import Options

DATE = "5f2b9c0d1e3a4b6c7d8e9f0a1b2c3d4e5f6a7b8c"
START = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
END = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"
DURATION = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
ZONE = "b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6"
VENUE = "3d0fa3429dfa2d3dec265b4fc5dc8258ab66cdf3"

OPTIONS: dict[str, Any] = {
    "event_date_field": DATE,
    "start_time_field": START,
    "end_time_field": END,
    "duration_field": DURATION,
    "timezone_field": ZONE,
    "timezone": "America/New_York",
    "venue_field": VENUE,
}


def options(**changes: Any) -> Options:
    return Options.model_validate({**OPTIONS, **changes})


MEETING = "8c4e2a6f0b1d3c5e7a9f2b4d6e8a0c1e3f5b7d9a"  # a text field holding the meeting link
