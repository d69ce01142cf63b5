"""Property-test helpers: any field of a vendor payload replaced by any JSON value.

A connector must answer such a body with bookings, ``[]`` or a ``PayloadError`` naming a
field — never another exception (which the ingress would turn into a 500 and the vendor into
endless retries).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def replaced(body: dict[str, Any], pick: int, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the ``pick``-th path (modulo their number) set to ``value``."""
    every = list(paths(body))
    path = every[pick % len(every)]
    mutated = copy.deepcopy(body)
    target: Any = mutated
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return mutated
