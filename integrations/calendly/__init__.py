"""Calendly (API v2): ``invitee.created`` / ``invitee.canceled`` webhooks and a backfill."""
