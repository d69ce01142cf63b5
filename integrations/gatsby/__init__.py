"""Gatsby: guest lists on events someone else runs (seed 002; shared/platforms/gatsby.md)."""
