"""The telemetry wing: logs, metrics and the worker's Celery signal hooks."""
