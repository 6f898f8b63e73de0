"""Secrets never reach reports or logs: URLs and key=value pairs are redacted."""

from __future__ import annotations

from fawkes_analytics.sources.base import redact_text, redact_url


def test_redact_url_keeps_user_and_host_but_not_the_password_or_tokens() -> None:
    assert redact_url("postgres://alice:s3cret@db:5432/analytics") == "postgres://alice:***@db:5432/analytics"
    assert (
        redact_url("plausible+https://p.example/site?api_key=abc&ttl=60")
        == "plausible+https://p.example/site?api_key=***&ttl=60"
    )


def test_redact_text_cleans_driver_errors() -> None:
    message = 'could not connect to "postgresql://bob:hunter2@10.0.0.1/db" (password=hunter2 sslmode=require)'
    cleaned = redact_text(message)
    assert "hunter2" not in cleaned
    assert "postgresql://bob:***@10.0.0.1/db" in cleaned and "password=***" in cleaned
