"""Check an HTTP response against the API's OpenAPI document.

``check(response)`` finds the operation (path template + method), asserts the status code is
documented for it, that the media type is one the document lists, that documented response
headers are present, and validates a JSON body against the schema with the OpenAPI 3.1
dialect (openapi-schema-validator, date-time formats checked). The API tests install it as an
httpx response hook, so every response they receive goes through it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from openapi_schema_validator import OAS31Validator

from fawkes_analytics.api import openapi

JSON_TYPES = ("application/json", "application/problem+json")


@cache
def document() -> dict[str, Any]:
    return openapi.document("")


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for template in document()["paths"]:
        pattern = re.escape(template)
        # {file} may hold a slash (charts/x.png); every other parameter is one segment.
        pattern = pattern.replace(r"\{file\}", "(?P<file>.+)")
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        compiled.append((re.compile(f"^{pattern}/?$"), template))
    # Literal paths before templated ones (/analytics/refresh before /analytics/refresh/{job_id}).
    return sorted(compiled, key=lambda item: item[1].count("{"))


def operation(path: str, method: str) -> tuple[str, dict[str, Any]] | None:
    for pattern, template in _templates():
        if pattern.match(path):
            found = document()["paths"][template].get(method.lower())
            if found is not None:
                return template, found
    return None


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate ``instance`` against a schema of the document (its $refs resolve in it)."""
    OAS31Validator(
        {**schema, "components": document()["components"]}, format_checker=OAS31Validator.FORMAT_CHECKER
    ).validate(instance)


def check(response: httpx.Response) -> None:
    """Assert ``response`` is one the document describes (see the module docstring)."""
    path = urlsplit(str(response.request.url)).path
    method = response.request.method
    if method == "OPTIONS":
        return  # CORS preflight: the document describes resources, not preflights
    found = operation(path, "get" if method == "HEAD" else method)
    if found is None:
        # Paths and methods the API does not have: only a problem answer is right for them.
        assert response.status_code in (401, 404, 405), (
            f"{method} {path} (not in the document) got {response.status_code}"
        )
        assert response.headers["content-type"] == "application/problem+json"
        validate(response.json(), {"$ref": "#/components/schemas/Problem"})
        return
    template, spec = found
    status = str(response.status_code)
    assert status in spec["responses"], f"{method} {template} answered {status}, which it does not document"
    described = spec["responses"][status]
    for header in described.get("headers", {}):
        assert header in response.headers, f"{method} {template} {status}: header {header} missing"
    if response.status_code == 304 or method == "HEAD":
        return
    media = response.headers.get("content-type", "")
    content = described.get("content", {})
    assert media in content, f"{method} {template} {status}: media type {media!r} not in {sorted(content)}"
    if media in JSON_TYPES:
        validate(response.json(), content[media]["schema"])


def client(base_url: str, token: str | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client whose every response is checked against the document."""

    def hook(response: httpx.Response) -> None:
        response.read()
        check(response)

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx.Client(base_url=base_url, headers=headers, event_hooks={"response": [hook]}, timeout=30, **kwargs)
