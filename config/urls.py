"""The one check of an http(s) URL in configuration, and the types that carry it.

``HttpUrl`` keeps the URL exactly as written (a signed notification URL, a portal endpoint);
``BaseUrl`` also drops a trailing slash, so a client can append ``/path`` to it. Settings and
tenant fields whose fix wants a more telling example call ``http_url(value, fix=...)``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from config.fixes import invalid

# a scheme, a host (a name, an IPv4 address or a bracketed IPv6 one), a port, then anything
# but white space
_HTTP_URL = re.compile(
    r"https?://(?:\[[0-9a-f:.]+\]|[^\s/:@?#\[\]]+)(?::\d{1,5})?(?:[/?#]\S*)?", re.IGNORECASE
)


def http_url(value: str, *, fix: str = "write it like https://api.example.com") -> str:
    """``value`` if it is an http(s) URL with a host, else a validation error with ``fix``."""
    if not _HTTP_URL.fullmatch(value):
        raise invalid("not an http(s) URL", fix)
    return value


def base_url(value: str) -> str:
    """An http(s) URL others are appended to: without a trailing slash."""
    return http_url(value).rstrip("/")


HttpUrl = Annotated[str, AfterValidator(http_url)]
BaseUrl = Annotated[str, AfterValidator(base_url)]
