"""Gatsby: guest lists on events someone else runs (docs/platform-gatsby.md)."""
