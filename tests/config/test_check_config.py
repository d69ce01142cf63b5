"""``bookwire check-config`` checks settings (environment and ``.env``) and the tenants file,
and says for each problem where, which field, what is wrong and the fix an operator can type.
Every command that loads settings fails at start the same way: exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import secrets_env, tenants_toml
from worker import runtime as runtime_module
from worker.cli import main

Run = Callable[..., tuple[int, str, str]]
SANDBOX = "http://127.0.0.1:8700"


@pytest.fixture
def bookwire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Run]:
    """``bookwire …`` in this process, in an empty working directory, on a valid tenants file
    and secrets file (tests break one thing at a time); returns (code, stdout, stderr)."""
    for key in list(os.environ):
        if key.startswith("BOOKWIRE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tenants.toml").write_text(tenants_toml(SANDBOX), encoding="utf-8")
    secrets = "".join(f"{k}={v}\n" for k, v in secrets_env().items())
    (tmp_path / "secrets.env").write_text(secrets, encoding="utf-8")
    monkeypatch.setenv("BOOKWIRE_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("BOOKWIRE_TENANTS_FILE", str(tmp_path / "tenants.toml"))
    monkeypatch.setenv("BOOKWIRE_SECRETS_FILE", str(tmp_path / "secrets.env"))

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    if runtime_module._current is not None:
        runtime_module._current.close()
    runtime_module.install(None)  # type: ignore[arg-type]


def add_tenant_toml(path: Path, extra: str) -> None:
    path.write_text(tenants_toml(SANDBOX, extra=extra), encoding="utf-8")


def test_a_good_configuration_passes(bookwire: Run) -> None:
    code, out, err = bookwire("check-config")
    assert (code, err) == (0, "")
    assert "settings: ok" in out and "(1 tenants)" in out
    assert "    example event: 'Ada Lovelace – Summer Launch Party'\n" in out  # templates render


# (environment variable, value, the line check-config must print)
BAD_SETTINGS = [
    pytest.param(
        "BOOKWIRE_LOG_LEVEL",
        "verbose",
        "environment: BOOKWIRE_LOG_LEVEL: unknown log level 'verbose' "
        "(fix: one of debug, info, warning, error)",
        id="log-level",
    ),
    pytest.param(
        "BOOKWIRE_LOG_LEVEL",
        "warnign",
        "environment: BOOKWIRE_LOG_LEVEL: unknown log level 'warnign' "
        "(fix: did you mean warning? one of debug, info, warning, error)",
        id="log-level-typo",
    ),
    pytest.param(
        "BOOKWIRE_INGRESS_PORT",
        "abc",
        "environment: BOOKWIRE_INGRESS_PORT: Input should be a valid integer, unable to parse "
        "string as an integer (fix: a whole number, e.g. 8000)",
        id="port-not-a-number",
    ),
    pytest.param(
        "BOOKWIRE_SANDBOX_PORT",
        "70000",
        "environment: BOOKWIRE_SANDBOX_PORT: Input should be less than or equal to 65535 "
        "(fix: a value at most 65535)",
        id="port-too-high",
    ),
    pytest.param(
        "BOOKWIRE_LOG_JSON",
        "perhaps",
        "environment: BOOKWIRE_LOG_JSON: Input should be a valid boolean, unable to interpret "
        "input (fix: true or false)",
        id="boolean",
    ),
    pytest.param(
        "BOOKWIRE_RELAY_AFTER",
        "0",
        "environment: BOOKWIRE_RELAY_AFTER: Input should be greater than 0 "
        "(fix: a value more than 0.0)",
        id="positive-number",
    ),
    pytest.param(
        "BOOKWIRE_DATABASE_URL",
        "mysql://bookwire:hunter2@db/bookwire",
        "environment: BOOKWIRE_DATABASE_URL: not a database URL bookwire can use "
        "(fix: postgresql://user:password@host:5432/bookwire, sqlite:///path/to/bookwire.db, "
        "or unset it for SQLite under BOOKWIRE_HOME)",
        id="database-url",
    ),
    pytest.param(
        "BOOKWIRE_BROKER_URL",
        "localhost:6379",
        "environment: BOOKWIRE_BROKER_URL: not a Redis URL (fix: redis://host:6379/0 "
        "(rediss:// for TLS), or unset it for the embedded broker)",
        id="broker-url",
    ),
    pytest.param(
        "BOOKWIRE_PUBLIC_BASE_URL",
        "hooks.example.com",
        "environment: BOOKWIRE_PUBLIC_BASE_URL: not an http(s) URL (fix: the ingress as "
        "vendors reach it, e.g. https://hooks.example.com)",
        id="public-url",
    ),
    pytest.param(
        "BOOKWIRE_INGRESS_RATE_LIMIT",
        "lots",
        "environment: BOOKWIRE_INGRESS_RATE_LIMIT: not a rate limit: 'lots' (fix: deliveries "
        'per time in `limits` syntax, e.g. "1000/10 seconds" or "50/second", or off)',
        id="rate-limit",
    ),
    pytest.param(
        "BOOKWIRE_OPS_PORT",
        "8000",
        "environment: BOOKWIRE_OPS_PORT: 8000 is BOOKWIRE_INGRESS_PORT too (fix: another free "
        "port for the ops listener, which serves /metrics (default 9000))",
        id="ops-port-is-the-webhook-port",
    ),
]


@pytest.mark.parametrize(("variable", "value", "line"), BAD_SETTINGS)
def test_a_bad_setting_is_named_with_its_fix(
    bookwire: Run, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = bookwire("check-config")
    assert (code, out) == (2, "")
    assert err == f"configuration problems:\n  {line}\n"
    assert "hunter2" not in err  # a URL's password is never echoed


def test_a_bad_setting_in_dotenv_names_the_file(bookwire: Run, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('BOOKWIRE_LOG_LEVEL="Infoo"\n', encoding="utf-8")
    code, _, err = bookwire("check-config")
    assert code == 2
    assert err == (
        "configuration problems:\n  .env: BOOKWIRE_LOG_LEVEL: unknown log level 'Infoo' "
        "(fix: did you mean info? one of debug, info, warning, error)\n"
    )


def test_dotenv_settings_are_used(bookwire: Run, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOOKWIRE_LOG_LEVEL=debug\n", encoding="utf-8")
    assert bookwire("check-config")[0] == 0
    assert runtime_module._current is not None
    assert runtime_module._current.settings.log_level == "DEBUG"


# (what to add to or change in the tenants file, the field, the fix)
BAD_TENANTS = [
    pytest.param(
        '[tenants.acme.sources.acuity]\nsecrets = [{ env = "TEST_OLD_SECRET" }]\n'
        'options = { timezone = "America/New_Yrok" }\n',
        "tenants.acme.sources.acuity.options.timezone",
        "did you mean America/New_York?",
        id="time-zone",
    ),
    pytest.param(
        'name_templat = "{title}"\n',
        "tenants.acme.brand.name_templat",
        "did you mean name_template?",
        id="misspelt-field",
    ),
    pytest.param(
        'primary_color = "blue"\n',
        "tenants.acme.brand.primary_color",
        'six hex digits after #, e.g. "#1d3557"',
        id="colour",
    ),
    pytest.param(
        'description_template = "{title} with {customer.nmae}"\n',
        "tenants.acme.brand.description_template",
        "use only: ",
        id="template-field",
    ),
    pytest.param(
        'logo_url = "cdn.example.com/logo.png"\n',
        "tenants.acme.brand.logo_url",
        "write it like https://cdn.example.com/logo.png",
        id="logo-url",
    ),
    pytest.param(
        '[tenants.acme.portal]\nkind = "webhook"\nurl = "portal.example.com/hooks"\n',
        "tenants.acme.portal.url",
        "write it like https://portal.example.com/hooks",
        id="portal-url",
    ),
    pytest.param(
        '[tenants.acme.sources.acuity]\nsecrets = [{ env = "TEST_OLD_SECRET" }]\n'
        'expect_delivery_within = "6 hours"\n',
        "tenants.acme.sources.acuity.expect_delivery_within",
        'write it like "30m", "6h" or "2d"',
        id="silence-expectation",
    ),
    pytest.param(
        '[tenants.acme.sources.generic2]\nsecrets = [{ env = "TEST_OLD_SECRET" }]\n',
        "tenants.acme.sources.generic2",
        "use one of: ",
        id="unknown-source",
    ),
]


@pytest.mark.parametrize(("extra", "field", "fix"), BAD_TENANTS)
def test_a_bad_tenants_file_is_named_with_its_fix(
    bookwire: Run, tmp_path: Path, extra: str, field: str, fix: str
) -> None:
    add_tenant_toml(tmp_path / "tenants.toml", extra)
    code, out, err = bookwire("check-config")
    assert (code, out) == (2, "")
    [line] = [line for line in err.splitlines() if f": {field}:" in line]
    assert line.startswith(f"  {tmp_path / 'tenants.toml'}: {field}: ")
    assert f"(fix: {fix}" in line
    assert "see the configuration reference" not in err and "Traceback" not in err


@pytest.mark.parametrize("weak", ["hunter2", "whsec_hunter2", "whsec_c2hvcnQ="])
def test_a_webhook_secret_no_sender_could_use_is_refused(
    bookwire: Run, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    """Standard Webhooks secrets are whsec_ and the base64 of 24-64 bytes; the library takes
    almost anything, and then every delivery gets 401."""
    monkeypatch.setenv("TEST_OLD_SECRET", weak)  # the generic source's second secret
    code, _, err = bookwire("check-config")
    assert code == 2, err
    assert "tenants.acme.sources.generic" in err
    assert "whsec_ and the base64 of 24-64 random bytes" in err
    assert weak not in err


def test_an_unresolvable_secret_reference_says_how_to_set_it(bookwire: Run, tmp_path: Path) -> None:
    toml = tenants_toml(SANDBOX).replace("TEST_GOMRY_KEY", "ACME_GOMRY_KEY")
    (tmp_path / "tenants.toml").write_text(toml, encoding="utf-8")
    code, _, err = bookwire("check-config")
    assert code == 2
    assert (
        "tenants.acme.platform.credentials.api_key: environment variable ACME_GOMRY_KEY is "
        "not set (fix: export ACME_GOMRY_KEY=... or add it to the secrets file" in err
    )


def test_a_missing_secrets_file_is_reported(
    bookwire: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOKWIRE_SECRETS_FILE", str(tmp_path / "secrets.env.typo"))
    code, _, err = bookwire("check-config")
    assert code == 2
    assert (
        f"{tmp_path / 'secrets.env.typo'}: (file): secrets file not found (fix: create it "
        "(KEY=value lines) or correct BOOKWIRE_SECRETS_FILE)" in err
    )


def test_a_secrets_line_without_value_is_reported(bookwire: Run, tmp_path: Path) -> None:
    with (tmp_path / "secrets.env").open("a", encoding="utf-8") as handle:
        handle.write("ACME_TOKEN\n")
    code, _, err = bookwire("check-config")
    assert code == 2
    assert "secrets.env: ACME_TOKEN: line has no value (fix: write ACME_TOKEN=value)" in err


def test_toml_syntax_error_says_where(bookwire: Run, tmp_path: Path) -> None:
    (tmp_path / "tenants.toml").write_text("[tenants.acme\n", encoding="utf-8")
    code, _, err = bookwire("check-config")
    assert code == 2
    assert "(syntax): " in err and "line 1" in err and 'text in "quotes"' in err


@pytest.mark.parametrize(
    "argv",
    [
        ["ingress"],
        ["worker"],
        ["beat"],
        ["flower"],
        ["sandbox"],
        ["migrate"],
        ["up"],
        ["status", "x"],
        ["failures"],
        ["send-example"],
    ],
)
def test_every_command_fails_at_start_the_same_way(
    bookwire: Run, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("BOOKWIRE_LOG_LEVEL", "verbose")
    code, out, err = bookwire(*argv)
    assert (code, out) == (2, "")
    assert err == (
        "configuration problems:\n  environment: BOOKWIRE_LOG_LEVEL: unknown log level "
        "'verbose' (fix: one of debug, info, warning, error)\n"
    )


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKWIRE_")}
    env.update(BOOKWIRE_HOME=str(tmp_path / "var"), BOOKWIRE_INGRESS_PORT="abc")
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "ingress"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "configuration problems:",
        "  environment: BOOKWIRE_INGRESS_PORT: Input should be a valid integer, unable to "
        "parse string as an integer (fix: a whole number, e.g. 8000)",
    ]


ALERT_SINK = "https://hooks.slack.com/services/T000/B000/very-secret-path"


def test_check_config_says_where_alerts_go_by_host_only(
    bookwire: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = bookwire("check-config")
    assert (code, "alerts: off (BOOKWIRE_ALERT_URL unset)" in out) == (0, True)

    monkeypatch.setenv("BOOKWIRE_ALERT_URL", ALERT_SINK)
    code, out, _ = bookwire("check-config")
    assert code == 0
    assert "alerts: slack to hooks.slack.com, at most 10 per 3600 s" in out
    assert "very-secret-path" not in out

    monkeypatch.setenv("BOOKWIRE_ALERT_FORMAT", "webhook")
    code, out, err = bookwire("check-config")
    assert code == 2 and "BOOKWIRE_ALERT_SECRET" in err
