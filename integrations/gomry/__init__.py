"""Gomry: ticketed events (Create Event API, seed 001; contract in shared/platforms/gomry.md)."""
