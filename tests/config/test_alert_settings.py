"""The alert sink's settings fail at start naming the variable and the fix, and never echo the
sink's URL or secret (``bookwire check-config`` runs the same checks: tests/config/
test_check_config.py)."""

from __future__ import annotations

import pytest

from config.errors import SettingsError
from config.settings import load_settings

SLACK = "https://hooks.slack.com/services/T000/B000/very-secret-path"
SECRET = "whsec_" + "YWxlcnQtc2luay1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="


@pytest.mark.parametrize(
    ("values", "variable", "fix"),
    [
        ({"alert_url": "hooks.slack.com/x"}, "BOOKWIRE_ALERT_URL", "https://hooks.slack.com"),
        (
            {"alert_url": SLACK, "alert_format": "webhook"},
            "BOOKWIRE_ALERT_SECRET",
            "or BOOKWIRE_ALERT_FORMAT=slack",
        ),
        (
            {"alert_url": SLACK, "alert_format": "webhook", "alert_secret": "hunter2-secret"},
            "BOOKWIRE_ALERT_SECRET",
            "whsec_ followed by the base64",
        ),
        ({"alert_format": "teams"}, "BOOKWIRE_ALERT_FORMAT", "'slack' or 'webhook'"),
        ({"alert_rate_limit": 0}, "BOOKWIRE_ALERT_RATE_LIMIT", ""),
    ],
    ids=["url-without-scheme", "webhook-without-secret", "secret-not-whsec", "format", "limit"],
)
def test_a_broken_alert_setting_names_the_variable_and_the_fix(
    values: dict[str, object], variable: str, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")  # no .env
    with pytest.raises(SettingsError) as caught:
        load_settings(**values)
    text = str(caught.value)
    assert variable in text and fix in text
    assert "hunter2-secret" not in text and "very-secret-path" not in text


def test_a_signed_sink_with_its_secret_loads() -> None:
    settings = load_settings(alert_url=SLACK, alert_format="webhook", alert_secret=SECRET)
    assert settings.alert_secret is not None
    assert settings.alert_secret.get_secret_value() == SECRET
