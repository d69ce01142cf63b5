"""Alembic migrations of the bookwire schema (run by ``bookwire migrate``)."""
