"""Concrete fixes for configuration problems: what to write instead, never "see the docs".

``fix_for`` turns one pydantic error (settings, the tenants file, a connector's options) into
the fix an operator can type. Validators that know better raise ``invalid(problem, fix)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from pydantic_core import PydanticCustomError

LOG_LEVELS = ("debug", "info", "warning", "error")


def invalid(problem: str, fix: str) -> PydanticCustomError:
    """A validation error that carries its own fix (read back by ``fix_for``)."""
    return PydanticCustomError("bookwire_invalid", problem, {"fix": fix})


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt ``value``, if one is close."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    if value.lower() in lowered:
        return lowered[value.lower()]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return close[0] if close else None


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def zone_fix(value: object) -> str:
    """``did you mean America/New_York?`` for a misspelt IANA time zone."""
    guess = did_you_mean(str(value), _zones()) if isinstance(value, str) and value else None
    if guess:
        return f"did you mean {guess}?"
    return "an IANA time zone name such as America/New_York or Europe/Berlin"


def fix_for(err: Mapping[str, Any], *, known_fields: Iterable[str] = ()) -> str:
    """The fix for one pydantic error (``ValidationError.errors()`` item)."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    loc = [str(part) for part in err.get("loc", ())]
    name = loc[-1] if loc else ""
    if "fix" in ctx:
        return str(ctx["fix"])
    if "timezone" in name or "time zone" in str(err.get("msg", "")):
        return zone_fix(err.get("input"))
    if kind == "extra_forbidden":
        guess = did_you_mean(name, known_fields) if known_fields else None
        return f"did you mean {guess}?" if guess else "remove it or check its spelling"
    if kind == "missing":
        return "add it"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    simple = {
        "int_parsing": "a whole number, e.g. 8000",
        "int_from_float": "a whole number, e.g. 8000",
        "int_type": "a whole number, e.g. 8000",
        "float_parsing": "a number, e.g. 2.5",
        "float_type": "a number, e.g. 2.5",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": 'a text value in quotes, e.g. "value"',
        "dict_type": "a table (key = value pairs)",
        "model_type": "a table (key = value pairs)",
        "list_type": "a list in brackets, e.g. [1, 2]",
        "path_type": "a file path",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than_equal": ("ge", "at least"),
        "greater_than": ("gt", "more than"),
        "less_than_equal": ("le", "at most"),
        "less_than": ("lt", "less than"),
    }
    if kind in bounds:
        key, words = bounds[kind]
        return f"a value {words} {ctx.get(key)}"
    message = str(err.get("msg", "")).removeprefix("Value error, ")
    return f"change the value: it {message}" if message.startswith("must") else message
