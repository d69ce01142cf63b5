"""``integrations.http``: the one place a transport outcome becomes a bookwire error.

A table of what a platform answers (or how the connection fails) against the error the worker
sees: transient ones are retried (after ``Retry-After`` when given), permanent ones become a
failure record, configuration ones wait for an operator. Every call, whatever came of it, is
recorded as an ``Attempt``; messages quote the platform's own error text (shortened) and never
the rest of the body or our credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.errors import (
    ConfigurationError,
    PermanentError,
    PlatformError,
    TransientError,
)
from integrations.http import EXCERPT_CHARS, Attempt, call, get_json, read_json, recording

URL = "https://platform.test/v1/events/42?expand=all"
TOKEN = "Bearer sk_live_never_in_a_message"
SECRET = "sk_live_body_secret"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def answering(status: int, body: object = None, **headers: str) -> httpx.Client:
    content = json.dumps(body if body is not None else {"error": f"status {status}"}).encode()
    return client(lambda request: httpx.Response(status, content=content, headers=headers))


def failing(exc: type[httpx.TransportError]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return client(handler)


@pytest.fixture
def attempts() -> Iterator[list[Attempt]]:
    seen: list[Attempt] = []
    with recording(seen.append):
        yield seen


def get(http: httpx.Client) -> httpx.Response:
    return call(http, "gomry", "GET", URL, headers={"Authorization": TOKEN})


# status -> the error class the worker sees (None: the response is returned)
STATUS_TABLE: list[tuple[int, type[Exception] | None]] = [
    (200, None),
    (201, None),
    (204, None),
    (400, PermanentError),
    (401, ConfigurationError),
    (403, ConfigurationError),
    (404, PermanentError),
    (408, TransientError),
    (409, PermanentError),  # a conflict that is not "in progress"
    (410, PermanentError),
    (422, PermanentError),
    (425, TransientError),
    (429, TransientError),
    (500, TransientError),
    (502, TransientError),
    (503, TransientError),
    (504, TransientError),
]


@pytest.mark.parametrize(
    ("status", "expected"), STATUS_TABLE, ids=[str(s) for s, _ in STATUS_TABLE]
)
def test_a_status_becomes_its_error(
    status: int, expected: type[Exception] | None, attempts: list[Attempt]
) -> None:
    http = answering(status)
    if expected is None:
        assert get(http).status_code == status
    else:
        with pytest.raises(expected) as raised:
            get(http)
        assert type(raised.value) is expected  # not a subclass standing in for it
        assert f"HTTP {status}" in str(raised.value)
        assert str(raised.value).startswith("gomry: ")
        if isinstance(raised.value, PlatformError):
            assert raised.value.status == status
    assert [(a.target, a.method, a.path, a.status) for a in attempts] == [
        ("gomry", "GET", "/v1/events/42", status)
    ]


def test_a_409_in_progress_is_retried_after_a_second() -> None:
    body = {"error": "idempotent_request_in_progress"}
    with pytest.raises(TransientError) as raised:
        get(answering(409, body))
    assert raised.value.status == 409 and raised.value.retry_after == 1.0


@pytest.mark.parametrize(
    ("header", "retry_after"),
    [({"Retry-After": "7"}, 7.0), ({"Retry-After": "2.5"}, 2.5), ({}, None)],
    ids=["seconds", "fraction", "absent"],
)
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_passed_on_when_given(
    status: int, header: dict[str, str], retry_after: float | None
) -> None:
    with pytest.raises(TransientError) as raised:
        get(answering(status, **header))
    assert raised.value.retry_after == retry_after


@pytest.mark.parametrize("value", ["Wed, 21 Oct 2026 07:28:00 GMT", "soon", "-5"])
def test_a_retry_after_that_is_no_number_of_seconds_is_never_negative_or_a_crash(
    value: str,
) -> None:
    with pytest.raises(TransientError) as raised:
        get(answering(429, **{"Retry-After": value}))
    assert raised.value.retry_after in (None, 0.0)


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (httpx.ConnectTimeout, "timed out"),
        (httpx.ReadTimeout, "timed out"),
        (httpx.WriteTimeout, "timed out"),
        (httpx.PoolTimeout, "timed out"),
        (httpx.ConnectError, "connection failed"),
        (httpx.ReadError, "connection failed"),
        (httpx.RemoteProtocolError, "connection failed"),
    ],
)
def test_timeouts_and_connection_errors_are_transient_and_recorded(
    failure: type[httpx.TransportError], words: str, attempts: list[Attempt]
) -> None:
    with pytest.raises(TransientError) as raised:
        get(failing(failure))
    assert words in str(raised.value) and failure.__name__ in str(raised.value)
    assert isinstance(raised.value.__cause__, failure)  # raise ... from exc
    assert raised.value.status is None
    assert [(a.path, a.status, a.excerpt) for a in attempts] == [
        ("/v1/events/42", None, failure.__name__)
    ]


def test_an_attempt_records_how_long_and_an_excerpt_of_the_answer(
    attempts: list[Attempt],
) -> None:
    body = "x" * (EXCERPT_CHARS * 3)
    http = client(lambda request: httpx.Response(502, text=body))
    with pytest.raises(TransientError):
        get(http)
    [attempt] = attempts
    assert attempt.excerpt == "x" * EXCERPT_CHARS
    assert attempt.duration_ms >= 0


def test_without_a_recorder_a_call_still_translates() -> None:
    with pytest.raises(PermanentError):
        get(answering(400))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429, 500, 503])
def test_a_message_quotes_only_the_platforms_error_text(
    status: int, attempts: list[Attempt]
) -> None:
    body = {"error": "event not found", "token": SECRET, "debug": {"key": SECRET}}
    with pytest.raises((PlatformError, ConfigurationError)) as raised:
        get(answering(status, body))
    message = str(raised.value)
    assert message == f"gomry: HTTP {status}: event not found"
    assert SECRET not in message and "sk_live_never" not in message
    assert "sk_live_never" not in attempts[0].excerpt  # the request's credentials: never


@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=600))
def test_a_body_that_is_not_json_is_quoted_at_most_200_characters(text: str) -> None:
    http = client(lambda request: httpx.Response(400, text=text + SECRET))
    with pytest.raises(PermanentError) as raised:
        get(http)
    quoted = str(raised.value).removeprefix("gomry: HTTP 400: ")
    assert len(quoted) <= 200
    if len(text) >= 200:
        assert SECRET not in quoted


def test_a_long_error_text_is_cut_to_200_characters() -> None:
    with pytest.raises(PermanentError) as raised:
        get(answering(422, {"message": "m" * 1000}))
    assert str(raised.value) == "gomry: HTTP 422: " + "m" * 200


def test_get_json_decodes_the_answer_and_refuses_a_body_that_is_not_json(
    attempts: list[Attempt],
) -> None:
    assert get_json(answering(200, {"id": 42}), "acuity", URL) == {"id": 42}
    html = client(lambda request: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(PermanentError, match="acuity: response is not JSON"):
        get_json(html, "acuity", URL)
    assert [a.status for a in attempts] == [200, 200]


def test_get_json_translates_like_call() -> None:
    with pytest.raises(TransientError):
        get_json(answering(503), "square", URL)
    with pytest.raises(ConfigurationError):
        get_json(answering(401), "square", URL)


def test_read_json_sends_the_method_and_body_it_is_given() -> None:
    seen: list[tuple[str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.content))
        return httpx.Response(200, json={"results": []})

    found = read_json(client(handler), "hubspot", "POST", URL, json={"limit": 100})
    assert found == {"results": []}
    assert seen == [("POST", b'{"limit":100}')]


def test_a_look_up_without_a_client_is_a_bug_never_a_silent_skip() -> None:
    with pytest.raises(RuntimeError, match="run in the worker"):
        get_json(None, "hubspot", URL)
