"""One http(s) URL check for every URL in configuration (settings, tenants file, options)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from config.urls import BaseUrl, HttpUrl
from integrations.square.schemas import SquareOptions


class Endpoints(BaseModel):
    exact: HttpUrl
    base: BaseUrl


hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
ports = st.none() | st.integers(1, 65535)
paths = st.from_regex(r"(/[A-Za-z0-9._~%-]{0,12}){0,4}/?", fullmatch=True)


@given(scheme=st.sampled_from(["http", "https"]), host=hosts, port=ports, path=paths)
def test_an_http_url_is_kept_as_written_and_a_base_url_loses_its_trailing_slash(
    scheme: str, host: str, port: int | None, path: str
) -> None:
    url = f"{scheme}://{host}{f':{port}' if port else ''}{path}"
    endpoints = Endpoints(exact=url, base=url)
    assert endpoints.exact == url
    assert endpoints.base == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "api.example.com",
        "ftp://files.example.com",
        "https://",
        "https:///path",
        "https://exa mple.com",
        "https://example.com/a b",
        "https://example.com:port",
        "https://user:secret@example.com",
        "",
    ],
)
def test_anything_else_is_refused_with_a_fix(url: str) -> None:
    for field in ("exact", "base"):
        values = {"exact": "https://ok.example", "base": "https://ok.example", field: url}
        with pytest.raises(ValidationError) as refused:
            Endpoints.model_validate(values)
        [error] = refused.value.errors()
        assert error["loc"] == (field,)
        assert error["msg"] == "not an http(s) URL"
        assert error["ctx"]["fix"].startswith("write it like https://")


def test_a_signed_url_is_never_rewritten() -> None:
    """Square signs the notification URL exactly as registered: a trailing slash included."""
    options = SquareOptions(
        notification_url="https://hooks.example.com/square/", base_url="https://sq.example/"
    )
    assert options.notification_url == "https://hooks.example.com/square/"
    assert options.base_url == "https://sq.example"
