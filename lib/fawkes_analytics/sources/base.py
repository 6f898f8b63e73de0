"""The interface every source offers: the three canonical tables as Ibis expressions."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..settings import lookup
from .fallback import SourceStatus

if TYPE_CHECKING:
    import ibis.expr.types as ir


# A name "looks secret" when it contains one of these words (motherduck_token, access_token,
# client_secret, PLAUSIBLE_API_KEY, Authorization, ...). Over-redacting a harmless value is
# fine; leaking a credential is not.
SECRET_WORDS = ("token", "secret", "password", "passwd", "pwd", "key", "auth", "credential")


def looks_secret(name: str) -> bool:
    """True when a parameter, key or variable name suggests its value is a credential."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_url(url: str) -> str:
    """The URL with any password, and every query value whose name looks secret, replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a well-formed URL (a stray '[', a template): redact by pattern
        return _SECRET_PAIR.sub(_redact_pair, _USERINFO.sub(r"\1:***@", url))
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        if ":" in creds:
            netloc = f"{creds.split(':', 1)[0]}:***@{host}"
    pairs = [p.partition("=") for p in parts.query.split("&") if p]
    query = "&".join(f"{k}=***" if looks_secret(k) else f"{k}={v}" if sep else k for k, sep, v in pairs)
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing secret: the URL exactly as it was given
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_USERINFO = re.compile(r"(://[^/:@\s]*):[^@/\s]*@")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.IGNORECASE)
_WORDS = "|".join(SECRET_WORDS)
_NAME = rf"[A-Za-z0-9_.\-]*(?:{_WORDS})[A-Za-z0-9_.\-]*"
_VALUE = r"(?:bearer\s+|basic\s+)?[^\s&;,'\"\)\]\}]+"
# name=value and name: value where the name contains a secret word (also inside longer names:
# motherduck_token, client_secret, X-Api-Key), and the quoted forms "name": "value" (JSON) and
# 'name': 'value' (Python reprs). A quoted name needs a quoted value, so that a message such as
# "parameter 'api_token': secrets are read ..." keeps its words.
_SECRET_PAIR = re.compile(
    rf"""(?P<name>\b{_NAME})(?P<sep>\s*[=:]\s*)(?P<quote>["']?)(?P<value>{_VALUE})"""
    rf"""|(?P<qname>(?P<q>["']){_NAME}(?P=q))(?P<qsep>\s*:\s*)(?P<qquote>["'])(?P<qvalue>{_VALUE})""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE)


def _redact_pair(match: re.Match[str]) -> str:
    if match.group("name") is not None:
        return f"{match.group('name')}{match.group('sep')}{match.group('quote')}***"
    return f"{match.group('qname')}{match.group('qsep')}{match.group('qquote')}***"


def redact_text(text: str) -> str:
    """``text`` with credentials removed: URL passwords and secret-looking ``name=value`` pairs.

    Driver errors often echo the connection string; everything that ends up in run.json,
    a log, a notebook or an email passes through here first.
    """
    text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    text = _SECRET_PAIR.sub(_redact_pair, text)
    return _BEARER.sub(lambda match: f"{match.group(1)} ***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message (and traceback) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret from the environment: ``$NAME``, else the contents of the file ``$NAME_FILE``
    (a known setting under its old name too, see ``settings.lookup``).

    Report and dashboard kernels never see secret values in their environment; they get the
    ``*_FILE`` variant (a path) instead, see ``kernel_env.py`` and docs/operations.md.
    """
    return lookup(name, env) or None


class Capability(StrEnum):
    """What a source can give. Callers check it with ``Source.offers``."""

    EVENTS = "events"  # the events table (every event-level report)
    ASSIGNMENTS = "assignments"  # experiment assignments
    FEEDBACK = "feedback"  # NPS answers and ratings
    AGGREGATE_ONLY = "aggregate-only"  # answers usage aggregates through an API, no tables (Plausible)


TABLE_CAPABILITIES = frozenset({Capability.EVENTS, Capability.ASSIGNMENTS, Capability.FEEDBACK})


class Source:
    """A place the canonical tables live. Subclasses provide the tables.

    ``capabilities`` says what the source offers; ``status()`` says whether its answers are
    live or an older copy (HTTP sources that fell back to last good data).
    """

    url: str = ""
    kind: str = "unknown"
    is_demo: bool = False
    capabilities: frozenset[Capability] = TABLE_CAPABILITIES

    def offers(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def status(self) -> SourceStatus:
        """Live unless an answer came from last good data (see fallback.py)."""
        return SourceStatus(self.kind)

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
