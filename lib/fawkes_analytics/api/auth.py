"""Who may call the API: bearer tokens with a scope, compared in constant time.

Scopes are ordered: ``metrics`` (``GET /metrics`` only) < ``read`` (every GET) < ``admin``
(also ``POST /api/v1/analytics/refresh``). A request presents its token in the
``Authorization`` header, as ``Bearer <token>`` or Jupyter's ``token <token>``; never in the URL,
where proxies and access logs would keep it.

The dashboards' token (``FAWKES_ANALYTICS_VOILA_TOKEN``) is a read token: whoever may open the dashboards
may fetch the same numbers as JSON. When no token of any kind is configured, which
``fawkes-analytics serve`` only allows on a loopback address, every request has the admin scope,
exactly as the dashboards are open there.

Every configured token is compared with ``hmac.compare_digest`` (all of them, whichever matches),
so the time an answer takes does not tell how much of a guess was right.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..settings import ApiSettings


class Scope(enum.IntEnum):
    """What a token allows; a higher scope includes the lower ones."""

    METRICS = 1
    READ = 2
    ADMIN = 3


@dataclass(frozen=True)
class TokenTable:
    """The configured tokens with their scopes."""

    tokens: tuple[tuple[bytes, Scope], ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, settings: ApiSettings, server_token: str = "") -> TokenTable:
        """The API tokens of ``settings`` plus the dashboards' token as a read token."""
        pairs: list[tuple[str, Scope]] = [(t, Scope.ADMIN) for t in settings.admin_tokens]
        pairs += [(t, Scope.READ) for t in (*settings.read_tokens, server_token) if t]
        pairs += [(t, Scope.METRICS) for t in settings.metrics_tokens]
        return cls.of(pairs)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, Scope]]) -> TokenTable:
        best: dict[str, Scope] = {}
        for token, scope in pairs:
            best[token] = max(scope, best.get(token, scope))
        return cls(tuple((token.encode("utf-8"), scope) for token, scope in best.items()))

    @property
    def open(self) -> bool:
        """No token configured at all: every request is allowed (loopback-only servers)."""
        return not self.tokens

    def scope_of(self, presented: str | None) -> Scope | None:
        """The scope of a presented token, or None when it matches none."""
        if self.open:
            return Scope.ADMIN
        if not presented:
            return None
        candidate = presented.encode("utf-8")
        found: Scope | None = None
        for token, scope in self.tokens:  # no early exit: every comparison is made
            if hmac.compare_digest(candidate, token):
                found = scope
        return found


def presented_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <t>`` (or ``token <t>``) header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not value.strip():
        return None
    return value.strip()
