"""Test support shared by tests/schedules and tests/delivery: real run folders, fake runners,
a fake clock and a real SMTP server (aiosmtpd) on a free loopback port.

The runners live at module level so the scheduler can run them in a spawned child process.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

KPIS = {
    "visitors": {
        "label": "Visitors",
        "value": 1234,
        "previous": 1000,
        "change": 23.4,
        "change_unit": "percent",
        "unit": "",
    },
    "bounce_rate": {
        "label": "Bounce rate",
        "value": 42.5,
        "previous": 40.0,
        "change": 2.5,
        "change_unit": "points",
        "unit": "%",
    },
}


def write_png(path: Path, label: str, points: int = 5) -> bytes:
    """A real PNG chart written by matplotlib; returns its bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=60)
    ax.plot(range(points), [i * i for i in range(points)], label=label)
    ax.set_title(label)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path.read_bytes()


def build_run_folder(
    reports_dir: Path,
    report: str = "overview",
    *,
    status: str = "succeeded",
    error: str | None = None,
    kpis: dict | None = None,
    charts: tuple[str, ...] = ("visitors_trend", "top_pages"),
    pdf_bytes: int = 0,
    run_id: str | None = None,
) -> Path:
    """A run folder as runs.py writes it: report.html, data.json, CSV, charts/*.png, run.json."""
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir = Path(reports_dir) / report / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "report.html").write_text("<html><body><h1>Overview</h1></body></html>", encoding="utf-8")
    data = {
        "report": report,
        "title": "Product overview",
        "kpis": kpis if kpis is not None else KPIS,
        "tables": {"pages": [{"page": "/", "views": 3}]},
    }
    (run_dir / "data.json").write_text(json.dumps(data), encoding="utf-8")
    (run_dir / "pages.csv").write_text("page,views\n/,3\n/pricing,2\n", encoding="utf-8")
    for name in charts:
        write_png(run_dir / "charts" / f"{name}.png", name)
    if pdf_bytes:
        (run_dir / "report.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(pdf_bytes))
    now = datetime.now(UTC).isoformat()
    record = {
        "report": report,
        "run_id": run_id,
        "run_dir": str(run_dir),
        "status": status,
        "started_at": now,
        "finished_at": now,
        "duration_seconds": 1.5,
        "parameters": {"time_range": "24h"},
        "error": error,
        "outputs": sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()),
        "delivery": [],
    }
    (run_dir / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return run_dir


# ----- fake runners (same signature as runs.run_report) ----------------------------------------


def _calls_file(reports_dir: Path) -> Path:
    return Path(reports_dir) / "calls.jsonl"


def record_call(reports_dir: Path, report: str, **extra) -> int:
    """Append a call line (works across processes); returns the number of calls so far."""
    path = _calls_file(reports_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"report": report, "pid": os.getpid(), "t": time.time(), **extra}) + "\n")
    return len(read_calls(reports_dir))


def read_calls(reports_dir: Path) -> list[dict]:
    path = _calls_file(reports_dir)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ok_runner(
    report, parameters=None, *, reports_dir, timeout=None, cell_timeout=None, outputs=("html", "csv", "json")
):
    """Writes a real run folder and returns its record."""
    record_call(reports_dir, report)
    status = (parameters or {}).get("status", "succeeded")
    sleep = float((parameters or {}).get("sleep", 0))
    if sleep:
        time.sleep(sleep)
    run_dir = build_run_folder(
        reports_dir,
        report,
        status=status,
        error=None if status == "succeeded" else "ZeroDivisionError: division by zero",
    )
    return json.loads((run_dir / "run.json").read_text())


def hang_first_runner(report, parameters=None, *, reports_dir, timeout=None, cell_timeout=None, outputs=("html",)):
    """Hangs (ignores its timeout, like a stuck kernel) on the first call, succeeds afterwards."""
    n = record_call(reports_dir, report)
    if n == 1:
        time.sleep(120)
    return _ok_no_record(report, parameters, reports_dir)


def _ok_no_record(report, parameters, reports_dir):
    run_dir = build_run_folder(reports_dir, report)
    return json.loads((run_dir / "run.json").read_text())


def slow_runner(report, parameters=None, *, reports_dir, timeout=None, cell_timeout=None, outputs=("html",), stop=None):
    """Takes a while, marks its start; like runs.run_report it stops early when ``stop`` is set."""
    record_call(reports_dir, report, phase="start")
    deadline = time.monotonic() + float((parameters or {}).get("sleep", 2))
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            record_call(reports_dir, report, phase="interrupted")
            return {
                "report": report,
                "run_id": "x",
                "run_dir": None,
                "status": "interrupted",
                "error": "run interrupted by shutdown",
            }
        time.sleep(0.05)
    record_call(reports_dir, report, phase="end")
    return _ok_no_record(report, parameters, reports_dir)


# ----- fake clock ----------------------------------------------------------------------------


@dataclass
class FakeClock:
    """A clock the test moves; ``sleep`` advances it instantly and records the delay."""

    current: datetime
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        return stop.is_set()

    def advance(self, **kwargs) -> None:
        self.current += timedelta(**kwargs)


# ----- SMTP server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectingHandler:
    """aiosmtpd handler keeping every envelope: (mail_from, rcpt_tos, raw bytes)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        )
        return "250 Message accepted for delivery"

    def parsed(self, index: int = -1):
        return message_from_bytes(self.messages[index][2], policy=policy.default)


class SmtpServer:
    """A real SMTP server on loopback; ``start()``/``stop()`` may be called repeatedly on one port."""

    def __init__(self, port: int | None = None, **controller_kwargs) -> None:
        self.port = port or free_port()
        self.handler = CollectingHandler()
        self.kwargs = controller_kwargs
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def env(self, **extra) -> dict[str, str]:
        return {
            "FAWKES_SMTP_HOST": "127.0.0.1",
            "FAWKES_SMTP_PORT": str(self.port),
            "FAWKES_SMTP_SECURITY": "none",
            "FAWKES_SMTP_FROM": "reports@fawkes.test",
            "FAWKES_ANALYTICS_REPORTS_URL": "https://reports.fawkes.test",
            **extra,
        }


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl command line."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def authenticator(user: str, password: str):
    """An aiosmtpd authenticator accepting exactly one user/password pair."""

    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    return check


class StallingHandler(CollectingHandler):
    """Accepts DATA (the message is kept, as a real server would deliver it) and then stalls
    before replying while ``stall`` is set: the client cannot know whether it was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.stall = threading.Event()
        self.stall.set()
        self.data_received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        reply = await super().handle_DATA(server, session, envelope)
        self.data_received.set()
        while self.stall.is_set():
            await asyncio.sleep(0.05)
        return reply

    def per_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, rcpt_tos, _ in self.messages:
            for rcpt in rcpt_tos:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts
