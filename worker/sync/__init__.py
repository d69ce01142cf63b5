"""The sync wing: bookings to platform events (write-ahead intents), batches, relay, reconcile."""
