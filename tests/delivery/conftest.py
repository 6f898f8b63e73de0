"""Fixtures of the delivery tests. The helpers (run folders, SMTP server) are shared with the
scheduler tests in tests/schedules/sched_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "schedules"))

from sched_support import SmtpServer  # noqa: E402


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()
