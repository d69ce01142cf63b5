"""The ops wing: ``bookwire status``, ``failures``, ``replay``, the outcome checks and the
gauges read from the store and the broker at scrape time."""
