"""Which files a running configuration was read from, and a fingerprint of what they hold.

A process compares the fingerprint of the files on disk with the one of the configuration it
runs (``worker.process.reload``): the tenants file, the secrets file and every
``{ file = "..." }`` secret the tenants file refers to. The fingerprint is a hash of contents,
not of modification times: an editor that writes twice in the same second, or a copy that keeps
the old time, is still seen; a ``touch`` that changes nothing is not a reload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from config.tenants import SecretRef, Tenant, Tenants

MISSING = b"\x00missing"


def fingerprint(paths: Iterable[Path | None]) -> str:
    """A hash over the contents of ``paths`` (a missing or unreadable file counts as such)."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        digest.update(str(path).encode() + b"\x00")
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            digest.update(MISSING)
    return digest.hexdigest()


def secret_refs(tenant: Tenant) -> list[SecretRef]:
    """Every secret reference of ``tenant``: platform, sources and portal."""
    refs = [*tenant.platform.credentials.values()]
    for source in tenant.sources.values():
        refs += [*source.secrets, *source.credentials.values()]
    if tenant.portal is not None:
        refs += tenant.portal.credentials.values()
    return refs


def secret_files(tenants: Tenants) -> list[Path]:
    """The files ``{ file = "..." }`` secret references of ``tenants`` read, sorted."""
    refs = [ref for tenant in tenants.tenants.values() for ref in secret_refs(tenant)]
    return sorted({ref.file for ref in refs if ref.file is not None})
