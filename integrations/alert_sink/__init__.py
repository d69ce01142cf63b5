"""The alert sink: where bookwire pushes alerts (a Slack-compatible incoming webhook, or a
signed generic webhook). ``worker.alerts`` decides what to say and when; this says it."""
