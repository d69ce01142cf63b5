"""The hand-off wing: when an event has ended, hand its album link (or attendance) to the
tenant's portal, exactly once per event end (``schedule``: when; ``hand_off``: how)."""
