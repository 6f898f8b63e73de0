"""The interface every source offers: the three canonical tables as Ibis expressions."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import ibis.expr.types as ir


def redact_url(url: str) -> str:
    """The URL with any password or token removed, safe for reports and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in creds else f"{user}@{host}"
    query = "&".join(
        f"{k}=***" if any(s in k.lower() for s in ("password", "token", "key", "secret")) else f"{k}={v}"
        for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.IGNORECASE)
_SECRET_PAIR = re.compile(r"\b(password|passwd|pwd|token|secret|api_key|apikey)=([^\s&;'\"]+)", re.IGNORECASE)


def redact_text(text: str) -> str:
    """``text`` with credentials removed from any URL or ``password=...`` pair it contains.

    Driver errors often echo the connection string; everything that ends up in run.json,
    a log or an email passes through here first.
    """
    text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    return _SECRET_PAIR.sub(lambda match: f"{match.group(1)}=***", text)


class Source:
    """A place the canonical tables live. Subclasses provide the tables."""

    url: str = ""
    kind: str = "unknown"
    is_demo: bool = False

    def events(self) -> ir.Table:
        raise NotImplementedError

    def assignments(self) -> ir.Table:
        raise NotImplementedError

    def feedback(self) -> ir.Table:
        raise NotImplementedError

    def data_as_of(self) -> datetime | None:
        """Time of the newest event, in UTC, or None when there is none."""
        return None

    def default_as_of(self) -> datetime:
        """The anchor of named time ranges: now, or the end of the data for demo data."""
        return datetime.now(timezone.utc)

    def describe(self) -> dict[str, Any]:
        """What reports print about the source (never secrets)."""
        as_of = self.data_as_of()
        return {
            "url": redact_url(self.url),
            "kind": self.kind,
            "demo": self.is_demo,
            "data_as_of": as_of.isoformat() if as_of else None,
        }
