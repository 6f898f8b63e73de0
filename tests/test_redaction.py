"""Secrets never reach reports or logs: URLs and key=value pairs are redacted."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("DuckDB file /x.duckdb?motherduck_token=SECRET1 does not exist", "SECRET1"),
        ("GET https://api.example/v1?access_token=SECRET2&page=2", "SECRET2"),
        ("client_secret: SECRET3 was rejected", "SECRET3"),
        ('{"api_key": "SECRET4", "site": "example.com"}', "SECRET4"),
        ("{'FAWKES_SMTP_PASSWORD': 'SECRET5'}", "SECRET5"),
        ("Authorization: Bearer SECRET6abcdef", "SECRET6abcdef"),
        ("headers={'X-Api-Key': 'SECRET7'}", "SECRET7"),
        ("connect(passwd=SECRET8, host=db)", "SECRET8"),
        ("oauth_refresh_token=SECRET9;", "SECRET9"),
        ("f'postgres://app:{pw}@db/x' failed: postgres://app:SECRET10@db/x?x=[1]", "SECRET10"),
    ],
)
def test_any_name_containing_a_secret_word_is_redacted(text: str, secret: str) -> None:
    # names containing token, secret, password, passwd, key or auth, in URLs, reprs, JSON and logs
    cleaned = redact_text(text)
    assert secret not in cleaned and "***" in cleaned


def test_redaction_keeps_the_words_of_ordinary_messages() -> None:
    for text in (
        "parameter 'api_token': secrets are read from environment variables",
        "analytics.yaml:3: key 'email.send': 'sometimes' is not allowed",
        "run 20261130T070000Z of report overview failed",
    ):
        assert redact_text(text) == text


def test_metrics_command_never_prints_the_token_of_its_source(capsys) -> None:
    from fawkes_analytics.cli import main

    code = main(["metrics", "--source", "duckdb:///nonexistent/x.duckdb?motherduck_token=planted-md-9917"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "motherduck_token=***" in err
    assert "planted-md-9917" not in err
