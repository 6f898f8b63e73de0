"""Errors as ``application/problem+json`` (RFC 9457): what went wrong, for whom to fix it.

Handlers raise ``Problem``; the base handler turns it into the response. Anything else that
escapes a handler becomes a plain 500 problem whose detail says nothing about the code (the
traceback goes to the server log only).

Problem types are URNs (``urn:fawkes-analytics:problem:<name>``), listed in docs/api.md, so a
client can branch on ``type`` rather than on the wording of ``detail``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:fawkes-analytics:problem:"

# The problem types this API answers with, and their HTTP status.
TYPES: dict[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "not-found": 404,
    "not-published": 404,
    "method-not-allowed": 405,
    "bad-parameter": 400,
    "rate-limited": 429,
    "refresh-running": 429,
    "unavailable": 503,
    "internal": 500,
}


@dataclass
class Problem(Exception):
    """One problem answer: its type (a key of TYPES), a human ``detail`` and extension members."""

    kind: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TYPES:
            raise ValueError(f"unknown problem type {self.kind!r}")
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        return TYPES[self.kind]

    def body(self, instance: str) -> dict[str, Any]:
        """The problem document; ``instance`` is the request path (without the query string)."""
        return {
            "type": TYPE_PREFIX + self.kind,
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            **self.extra,
        }

    def to_bytes(self, instance: str) -> bytes:
        return json.dumps(self.body(instance), ensure_ascii=False).encode("utf-8")


def not_found(what: str, **extra: Any) -> Problem:
    return Problem("not-found", what, extra)


def unauthorized() -> Problem:
    """The one answer to a missing or wrong token, whatever was asked: it reveals nothing."""
    return Problem(
        "unauthorized",
        "a valid token is required: send it as 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": 'Bearer realm="fawkes-analytics"'},
    )


def internal() -> Problem:
    return Problem("internal", "the server could not answer this request; the details were logged on the server")
