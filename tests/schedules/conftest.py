"""Fixtures of the scheduler tests; the helpers live in sched_support.py (shared with tests/delivery)."""

from __future__ import annotations

import pytest
from sched_support import SmtpServer


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()
