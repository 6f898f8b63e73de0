"""`fawkes-analytics check` (issue 19, point 5) against a good and a broken configuration, with a
real SMTP server (aiosmtpd) and a real HTTP endpoint for the Pushgateway on loopback."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from fawkes_analytics import selfcheck, settings, sources
from fawkes_analytics.cli import main
from fawkes_analytics.rollups import refresh_source
from fawkes_analytics.rollups.store import RollupStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "schedules"))
from sched_support import SmtpServer, authenticator  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class Pushgateway(BaseHTTPRequestHandler):
    """The one endpoint of the Pushgateway API the check uses: GET /-/healthy answers 200 OK."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        healthy = self.path == "/-/healthy"
        self.send_response(200 if healthy else 404)
        self.end_headers()
        self.wfile.write(b"OK" if healthy else b"not found")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pushgateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(authenticator=authenticator("mailer", "s3cret-pw"), auth_require_tls=False).start()
    yield server
    server.stop()


def smtp_env(monkeypatch, server: SmtpServer, password: str) -> None:
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
        "SMTP_USER": "mailer",
        "SMTP_PASSWORD": password,
    }.items():
        monkeypatch.setenv(f"FAWKES_ANALYTICS_{name}", value)


def lines_of(out: str) -> dict[str, str]:
    """check name -> its line."""
    outcomes = {outcome.value for outcome in selfcheck.Outcome}
    return {line.split()[1].rstrip(":"): line for line in out.splitlines() if line.split()[0] in outcomes}


@pytest.mark.slow
def test_a_good_configuration_passes_every_check(demo_db, smtp, pushgateway, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{demo_db.path}")
    monkeypatch.setenv("FAWKES_ANALYTICS_ROLLUPS", str(tmp_path / "store"))
    monkeypatch.setenv("FAWKES_ANALYTICS_PUSHGATEWAY_URL", pushgateway)
    monkeypatch.setenv("FAWKES_ANALYTICS_VOILA_TOKEN", "a-token")
    smtp_env(monkeypatch, smtp, "s3cret-pw")
    refresh_source(sources.connect())  # a fresh rollup store

    code = main(["check", "--reports-dir", str(tmp_path / "reports"), "--serve-host", "0.0.0.0"])
    out = capsys.readouterr().out
    lines = lines_of(out)
    assert list(lines) == selfcheck.check_names()
    chromium_ok = shutil.which("chromium") is not None
    assert code == 0 and out.rstrip().endswith(
        f"{10 - (not chromium_ok)} ok, {int(not chromium_ok)} warning(s), 0 failed"
    )
    assert lines["catalog"].startswith("ok") and "5 features, 3 funnels, 2 experiments" in lines["catalog"]
    assert "4 in" in lines["schedules"] and lines["schedules"].startswith("ok")
    assert lines["source"].startswith("ok") and "events (" in lines["source"] and "(demo data)" in lines["source"]
    assert lines["rollups"].startswith("ok") and "version 1 as of" in lines["rollups"]
    assert lines["smtp"] == f"ok       smtp: 127.0.0.1:{smtp.port} (none): logged in as mailer; nothing sent"
    assert smtp.handler.messages == []  # connect and log in only
    assert lines["pushgateway"] == f"ok       pushgateway: {pushgateway} is healthy"
    assert lines["kernel"].startswith("ok") and lines["reports"].startswith("ok")
    assert lines["dashboards"] == "ok       dashboards: served on 0.0.0.0; token set"
    assert "s3cret-pw" not in out and "a-token" not in out


def test_an_old_rollup_store_is_a_warning_with_the_fix(demo_db, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAWKES_ANALYTICS_ROLLUPS", str(tmp_path / "store"))
    source = sources.connect(f"duckdb://{demo_db.path}")
    ctx = selfcheck.Context(tmp_path, tmp_path, "127.0.0.1", source=source)
    assert selfcheck.check_rollups(ctx).outcome is selfcheck.Outcome.WARNING  # no store yet
    refresh_source(source)
    as_of = RollupStore(settings.rollups_location(source.path)).latest().as_of
    fresh = selfcheck.check_rollups(ctx, now=as_of + timedelta(minutes=14))
    stale = selfcheck.check_rollups(ctx, now=as_of + timedelta(minutes=16))
    assert fresh.outcome is selfcheck.Outcome.OK and "14 min old" in fresh.detail
    assert stale.outcome is selfcheck.Outcome.WARNING and "16 min old" in stale.detail
    assert "fawkes-analytics refresh" in stale.line()


def test_a_broken_configuration_fails_with_one_line_and_a_fix_per_problem(smtp, tmp_path: Path, monkeypatch, capsys):
    catalog = tmp_path / "analytics.yaml"
    catalog.write_text((ROOT / "analytics.yaml").read_text().replace("funnels:", "funnel:", 1))
    monkeypatch.setenv("FAWKES_ANALYTICS_CATALOG", str(catalog))
    broken_db = tmp_path / "broken.duckdb"
    with duckdb.connect(str(broken_db)) as con:  # an events table without user_id
        con.execute("CREATE TABLE events (event_id VARCHAR, timestamp TIMESTAMP, event_name VARCHAR)")
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{broken_db}")
    monkeypatch.setenv("FAWKES_ANALYTICS_PUSHGATEWAY_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.delenv("FAWKES_ANALYTICS_VOILA_TOKEN", raising=False)
    smtp_env(monkeypatch, smtp, "wrong-password")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")

    code = main(["check", "--reports-dir", str(not_a_folder / "reports"), "--serve-host", "0.0.0.0"])
    lines = lines_of(capsys.readouterr().out)
    assert code == 1
    failed = {name for name, line in lines.items() if line.startswith("failed")}
    assert failed == {"catalog", "source", "smtp", "pushgateway", "reports", "dashboards"}
    assert "analytics.yaml" in lines["catalog"] and "funnel" in lines["catalog"] and "(fix: " in lines["catalog"]
    assert "user_id" in lines["source"]
    assert "SMTPAuthenticationError" in lines["smtp"] and "wrong-password" not in lines["smtp"]
    assert "set FAWKES_ANALYTICS_VOILA_TOKEN" in lines["dashboards"]
    assert smtp.handler.messages == []
