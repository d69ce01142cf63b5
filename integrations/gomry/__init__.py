"""Gomry: ticketed events (contract in docs/platform-gomry.md)."""
