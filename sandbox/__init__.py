"""The sandbox: real HTTP emulators of the outside platforms, kept apart from our clients.

Nothing here imports ``integrations`` or ``worker``: a client is never tested against code that
shares its assumptions by import. Fault knobs (latency, 5xx, 429 bursts, commit-then-drop, a
clock offset) are turned over HTTP at ``/_sandbox/faults``.
"""
