"""Alerts pushed to a sink (Slack-compatible or a signed webhook): ``rules`` says what is
alert-worthy now, ``send`` opens each group once, rate-limits and delivers it exactly once."""
