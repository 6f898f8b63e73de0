"""The API's parts on their own: settings and tokens, the OpenAPI document, entities, lookups."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from openapi_spec_validator import validate as validate_spec

from fawkes_analytics import settings
from fawkes_analytics.api import openapi
from fawkes_analytics.api.auth import Scope, TokenTable, presented_token
from fawkes_analytics.api.documents import servable
from fawkes_analytics.api.entities import Entity, EntityCache
from fawkes_analytics.api.published import RunFolders
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.export import prometheus as prom


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("FAWKES_ANALYTICS_API", "FAWKES_ANALYTICS_METRICS")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_tokens_from_variables_and_mounted_files_are_merged(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    listing = tmp_path / "tokens"
    listing.write_text("# read tokens, one a line\nfile-one\n\n  file-two  \n", encoding="utf-8")
    clean_env.setenv("FAWKES_ANALYTICS_API_TOKENS", "env-one, env-two,")
    clean_env.setenv("FAWKES_ANALYTICS_API_TOKENS_FILE", str(listing))
    clean_env.setenv("FAWKES_ANALYTICS_API_ADMIN_TOKEN", "boss")
    clean_env.setenv("FAWKES_ANALYTICS_API_CORS_ORIGINS", "https://a.example https://b.example")
    config = settings.api()
    assert config.read_tokens == ("env-one", "env-two", "file-one", "file-two")
    assert config.admin_tokens == ("boss",) and config.metrics_tokens == ()
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert "boss" not in repr(config) and "file-one" not in repr(config)


def test_unreadable_token_file_is_an_error_naming_the_variable(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FAWKES_ANALYTICS_API_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ParameterError, match="FAWKES_ANALYTICS_API_ADMIN_TOKEN_FILE"):
        settings.api()


def test_bad_refresh_budget_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FAWKES_ANALYTICS_API_REFRESH_PER_HOUR", "lots")
    with pytest.raises(ParameterError, match="FAWKES_ANALYTICS_API_REFRESH_PER_HOUR"):
        settings.api()


def test_metrics_textfile_is_where_the_metrics_export_writes(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FAWKES_ANALYTICS_REPORTS_DIR", str(tmp_path))
    clean_env.delenv("FAWKES_METRICS_TEXTFILE", raising=False)
    assert settings.api().metrics_textfile == prom.default_textfile() == tmp_path / "metrics" / "analytics.prom"
    clean_env.setenv("FAWKES_METRICS_TEXTFILE", str(tmp_path / "elsewhere.prom"))
    assert settings.api().metrics_textfile == prom.default_textfile()


def test_scopes_of_tokens() -> None:
    config = settings.ApiSettings(read_tokens=("r",), admin_tokens=("a",), metrics_tokens=("m", "r"))
    table = TokenTable.from_settings(config, server_token="viewer")
    assert table.scope_of("a") is Scope.ADMIN
    assert table.scope_of("r") is Scope.READ  # a token listed twice keeps its higher scope
    assert table.scope_of("viewer") is Scope.READ
    assert table.scope_of("m") is Scope.METRICS
    assert table.scope_of("x") is None and table.scope_of(None) is None and table.scope_of("") is None
    assert table.scope_of("a ") is None  # exact match only
    assert TokenTable.from_settings(settings.ApiSettings()).scope_of(None) is Scope.ADMIN  # nothing configured


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("token abc", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_presented_token(header: str | None, token: str | None) -> None:
    assert presented_token(header) == token


def test_openapi_document_is_valid_openapi_3_1() -> None:
    document = openapi.document("")
    assert document["openapi"] == "3.1.0"
    validate_spec(document)  # openapi-spec-validator: raises on any violation
    # Negative controls: the validator does catch a wrong parameter and a dangling reference.
    broken = json.loads(json.dumps(document))
    broken["paths"]["/api/v1/runs"]["get"]["parameters"][0]["in"] = "body"
    with pytest.raises(Exception, match="body"):
        validate_spec(broken)
    dangling = json.loads(json.dumps(document))
    del dangling["components"]["schemas"]["RunSummary"]
    with pytest.raises(Exception, match="RunSummary"):
        validate_spec(dangling)


def test_entity_validators_and_gzip() -> None:
    moment = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=timezone.utc)
    body = json.dumps({"numbers": list(range(500))}).encode()
    entity = Entity.build(body, "application/json", moment)
    assert gzip.decompress(entity.gzipped) == body
    assert entity.last_modified == moment.replace(microsecond=0)  # HTTP dates have whole seconds
    assert entity.matches(entity.etag) and entity.matches(f'"x", W/{entity.gzip_etag}') and entity.matches("*")
    assert not entity.matches('"x"')
    assert Entity.build(body, "application/json", moment).etag == entity.etag  # same bytes, same tag
    assert Entity.build(b"tiny", "application/json", moment).gzipped is None  # below 1 KiB: not worth it
    assert Entity.build(body, "image/png", moment).gzipped is None  # already compressed types


def test_entity_cache_keeps_to_its_byte_budget() -> None:
    cache = EntityCache(max_bytes=3000)
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    built = []
    for key in range(5):
        cache.get(key, lambda k=key: built.append(k) or Entity.build(bytes(1000), "image/png", moment))
    assert len(cache) == 3 and built == [0, 1, 2, 3, 4]
    cache.get(4, lambda: pytest.fail("a hit must not rebuild"))


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("data.json", True),
        ("charts/traffic.png", True),
        ("report.pdf", True),
        ("notebook.ipynb", False),
        ("run.log", False),
        (".tmp.json", False),
        ("charts/.x.png", False),
        ("a//b.csv", False),
    ],
)
def test_servable_files(name: str, ok: bool) -> None:
    assert servable(name) is ok


def test_run_lookup_reads_parameters_from_data_json_and_skips_failed_and_temporary_runs(tmp_path: Path) -> None:
    base = tmp_path / "usage_trends"

    def run(run_id: str, status: str, started: str, time_range: str) -> None:
        folder = base / run_id
        folder.mkdir(parents=True)
        # run.json keeps only the parameters given on the command line; data.json has them all.
        (folder / "run.json").write_text(json.dumps({"status": status, "started_at": started, "parameters": {}}))
        (folder / "data.json").write_text(json.dumps({"parameters": {"time_range": time_range}}))

    run("20261101T000000Z", "succeeded", "2026-11-01T00:00:00+00:00", "24h")
    run("20261102T000000Z", "succeeded", "2026-11-02T00:00:00+00:00", "7d")
    run("20261103T000000Z", "failed", "2026-11-03T00:00:00+00:00", "24h")
    (base / ".tmp-20261104T000000Z").mkdir()
    (base / "latest").symlink_to("20261102T000000Z")
    folders = RunFolders(tmp_path)
    assert folders.find("usage_trends", {}).run_id == "20261102T000000Z"
    assert folders.find("usage_trends", {"time_range": "24h"}).run_id == "20261101T000000Z"  # the failed one is newer
    assert folders.find("usage_trends", {"time_range": "30d"}) is None
    assert [r.run_id for r in folders.runs("usage_trends")] == [
        "20261103T000000Z",
        "20261102T000000Z",
        "20261101T000000Z",
    ]
    assert folders.resolve("usage_trends", "../usage_trends") is None and folders.resolve("..", "latest") is None
    assert folders.reports() == ["usage_trends"]


@pytest.mark.slow
def test_server_refuses_to_start_when_a_token_file_is_unreadable(tmp_path: Path) -> None:
    """A server must not come up with fewer tokens than configured: exit 2 naming the variable."""
    import subprocess
    import sys

    from .conftest import TINY_DASHBOARDS, free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("FAWKES_ANALYTICS_API")}
    env.update(FAWKES_ANALYTICS_API_TOKENS_FILE=str(tmp_path / "missing"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fawkes_analytics.serve",
            "--port",
            str(free_port()),
            "--notebooks-dir",
            str(TINY_DASHBOARDS),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FAWKES_ANALYTICS_API_TOKENS_FILE" in done.stdout and "cannot read" in done.stdout
