"""Cal.com: booking webhooks (created, rescheduled, cancelled) and a backfill."""
