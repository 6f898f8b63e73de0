"""An unreachable Pushgateway and Ctrl-C end in one clear line, never a traceback; the
textfile and the refresh state are still written when only the push fails."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from fawkes_analytics import catalog
from fawkes_analytics.cli import main
from fawkes_analytics.errors import ExportError
from fawkes_analytics.export import prometheus as prom


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://user:planted-push-pw@127.0.0.1:{port}"  # nothing listens there any more


def test_unreachable_pushgateway_is_a_clear_error_after_the_textfile_is_written(
    demo_source, demo_overview, demo_range, tmp_path: Path
) -> None:
    textfile = tmp_path / "analytics.prom"
    with pytest.raises(ExportError) as caught:
        prom.export_metrics(
            demo_source,
            catalog.load(),
            demo_range,
            textfile=textfile,
            push_url=closed_port_url(),
            compute=lambda *_: demo_overview,
        )
    message = str(caught.value)
    assert "could not be reached" in message and "PUSHGATEWAY_URL" in message
    assert "planted-push-pw" not in message and "user:***@127.0.0.1" in message
    assert "analytics_active_users" in textfile.read_text()
    assert json.loads(prom.state_path_for(textfile).read_text())["last_success_timestamp"] is not None


def test_metrics_push_to_an_unreachable_gateway_prints_one_error_line(demo_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PUSHGATEWAY_URL", closed_port_url())
    assert main(["metrics", "--push"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Pushgateway http://user:***@127.0.0.1:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "planted-push-pw" not in err


def test_ctrl_c_during_a_command_is_one_line_and_exit_130(monkeypatch, capsys) -> None:
    from fawkes_analytics import sources

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a computation

    monkeypatch.setattr(sources, "connect", interrupted)
    assert main(["metrics"]) == 130
    err = capsys.readouterr().err
    assert err == "cancelled (Ctrl-C)\n"
