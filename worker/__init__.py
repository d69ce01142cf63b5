"""The pipeline: ingress (verify, record, publish), Celery tasks (sync bookings to events), CLI."""
