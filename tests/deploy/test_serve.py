"""fawkes_analytics.serve: the settings it refuses, and a real Voilà started through it."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fawkes_analytics.errors import ParameterError
from fawkes_analytics.serve import (
    FRIENDLY_ERROR,
    HEALTH_PATH,
    ServeSettings,
    is_loopback,
    main,
)

from .conftest import TEST_DASHBOARDS, VoilaServer, free_port, start_voila, stop_voila

TOKEN = "test-token-5f1c"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.8.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("dashboards.example", False),
    ],
)
def test_loopback_detection(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_non_loopback_without_token_is_refused(host: str) -> None:
    with pytest.raises(ParameterError, match="needs a token"):
        ServeSettings(host=host, token="", notebooks_dir=TEST_DASHBOARDS)


def test_non_loopback_with_token_and_loopback_without_token_are_accepted() -> None:
    assert ServeSettings(host="0.0.0.0", token="t", notebooks_dir=TEST_DASHBOARDS).auth_enabled
    assert not ServeSettings(host="127.0.0.1", token="", notebooks_dir=TEST_DASHBOARDS).auth_enabled


def test_cli_refuses_public_bind_without_token_before_binding(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("FAWKES_ANALYTICS_VOILA_TOKEN", raising=False)
    port = free_port()
    code = main(["--host", "0.0.0.0", "--port", str(port), "--notebooks-dir", str(TEST_DASHBOARDS)])
    assert code == 2
    assert "FAWKES_ANALYTICS_VOILA_TOKEN" in capsys.readouterr().out


def test_voila_config_carries_the_security_and_culling_policy() -> None:
    cfg = ServeSettings(token="t", notebooks_dir=TEST_DASHBOARDS, cull_idle_timeout=900, preheat=2).voila_config()
    assert cfg.VoilaConfiguration.strip_sources is True
    assert cfg.VoilaConfiguration.show_tracebacks is False
    assert cfg.VoilaExecutor.show_tracebacks is False
    assert cfg.Voila.token == "t"
    assert cfg.Voila.port_retries == 0
    assert cfg.MappingKernelManager.cull_idle_timeout == 900
    assert cfg.MappingKernelManager.cull_connected is True
    assert cfg.VoilaConfiguration.preheat_kernel is True
    # Only the overview is preheated: a pool per dashboard would multiply the memory per pod.
    assert cfg.VoilaKernelManager.kernel_pools_config == {
        "default": {"pool_size": 0},
        "overview.ipynb": {"pool_size": 2},
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoilaServer, int]]:
    """One token-protected server for the module; idle kernels culled after 4 s (checked every 1 s)."""
    tmp = tmp_path_factory.mktemp("voila")
    metrics_port = free_port()
    server = start_voila(
        tmp, "--cull-idle", "4", "--cull-interval", "1", "--metrics-port", str(metrics_port), token=TOKEN
    )
    yield server, metrics_port
    stop_voila(server)


def _wait_for_kernels(server: VoilaServer, predicate, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server.kernel_pids()
        if predicate(len(pids)):
            return pids
        time.sleep(0.25)
    return server.kernel_pids()


@pytest.mark.slow
def test_health_path_answers_without_token_and_starts_no_kernel(served) -> None:
    server, _ = served
    _wait_for_kernels(server, lambda n: n == 0)  # kernels of earlier tests are culled within ~5 s
    before = server.kernel_pids()
    assert before == []
    for _ in range(20):
        response = httpx.get(server.url + HEALTH_PATH, timeout=5)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    time.sleep(1.0)  # a kernel start would have shown up by now (they take ~1 s to spawn)
    assert server.kernel_pids() == before


@pytest.mark.slow
def test_request_without_token_is_refused(served) -> None:
    server, _ = served
    for path in ("/", "/voila/render/visible.ipynb", "/voila/api/contents/"):
        response = httpx.get(server.url + path, timeout=10, follow_redirects=False)
        refused = response.status_code in (401, 403) or (
            response.status_code == 302 and "/login" in response.headers["location"]
        )
        assert refused, (path, response.status_code, response.headers)
    wrong = httpx.get(server.url + "/voila/render/visible.ipynb", params={"token": "nope"}, timeout=10)
    assert "rendered-output-42" not in wrong.text


@pytest.mark.slow
def test_render_hides_sources_starts_one_kernel_and_idle_kernel_is_culled(served) -> None:
    server, metrics_port = served
    before = len(_wait_for_kernels(server, lambda n: n == 0))
    response = httpx.get(server.url + "/voila/render/visible.ipynb", params={"token": TOKEN}, timeout=60)
    assert response.status_code == 200
    # The cell is `hidden_source_marker = 6 * 7` then print(f"rendered-output-{hidden_source_marker}").
    assert "rendered-output-42" in response.text
    assert "hidden_source_marker" not in response.text
    # Positive control for the kernel count used by the health test: a page render starts one.
    assert len(server.kernel_pids()) == before + 1
    metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert f"fawkes_voila_kernels {before + 1}.0" in metrics
    # Culling: no browser is attached, so after 4 idle seconds the kernel is shut down.
    assert _wait_for_kernels(server, lambda n: n == before, timeout=30) == []


@pytest.mark.slow
def test_failing_cell_shows_friendly_error_and_logs_traceback(served) -> None:
    server, _ = served
    response = httpx.get(server.url + "/voila/render/failing.ipynb", params={"token": TOKEN}, timeout=60)
    assert response.status_code == 200
    assert FRIENDLY_ERROR in response.text
    for leaked in ("ZeroDivisionError", "Traceback", "failing_source_marker", "division by zero"):
        assert leaked not in response.text
    deadline = time.monotonic() + 10
    while "ZeroDivisionError" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "ZeroDivisionError" in server.log()


@pytest.mark.slow
def test_preheat_fills_a_pool_for_the_overview_only(voila, tmp_path: Path) -> None:
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    shutil.copy(TEST_DASHBOARDS / "visible.ipynb", dashboards / "overview.ipynb")
    shutil.copy(TEST_DASHBOARDS / "visible.ipynb", dashboards / "other.ipynb")
    server = voila("--preheat", "1", notebooks_dir=dashboards)
    # One pooled kernel for overview.ipynb, none for other.ipynb.
    assert len(_wait_for_kernels(server, lambda n: n >= 1)) == 1
    time.sleep(2)
    assert len(server.kernel_pids()) == 1
    assert httpx.get(server.url + HEALTH_PATH, timeout=5).status_code == 200
    response = httpx.get(server.url + "/voila/render/overview.ipynb", timeout=60)
    assert "rendered-output-42" in response.text
    assert "hidden_source_marker" not in response.text
