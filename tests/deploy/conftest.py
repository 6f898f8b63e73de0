"""Fixtures for the deployment tests: a real Voilà started through fawkes_analytics.serve."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from fawkes_analytics.serve import HEALTH_PATH

HERE = Path(__file__).resolve().parent
TEST_DASHBOARDS = HERE / "dashboards"
REPO = HERE.parents[1]


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class VoilaServer:
    """A running `fawkes-analytics serve` subprocess and how to talk to it."""

    process: subprocess.Popen
    url: str
    token: str
    log_path: Path

    def kernel_pids(self) -> list[int]:
        """Kernel processes started by this server, read from the OS (independent of Voilà)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        pids = []
        for child in children:
            try:
                if any("ipykernel_launcher" in part for part in child.cmdline()):
                    pids.append(child.pid)
            except psutil.NoSuchProcess:
                continue
        return pids

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_voila(
    tmp_path: Path,
    *args: str,
    token: str | None = None,
    notebooks_dir: Path = TEST_DASHBOARDS,
    startup_timeout: float = 60.0,
) -> VoilaServer:
    """Start Voilà on a free loopback port and wait until the health path answers."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("FAWKES_ANALYTICS_VOILA_TOKEN", None)
    if token is not None:
        env["FAWKES_ANALYTICS_VOILA_TOKEN"] = token
    # Keep every writable path of the server and its kernels inside the test's folder.
    for var, sub in (("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")):
        env[var] = str(tmp_path / sub)
    log_path = tmp_path / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fawkes_analytics.serve",
                "--port",
                str(port),
                "--notebooks-dir",
                str(notebooks_dir),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    server = VoilaServer(process, f"http://127.0.0.1:{port}", token or "", log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + HEALTH_PATH, timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_voila(server)
    raise RuntimeError(f"voila did not answer {HEALTH_PATH} within {startup_timeout}s:\n{server.log()}")


def stop_voila(server: VoilaServer) -> None:
    """SIGTERM (Voilà then shuts its kernels down), SIGKILL the group if it hangs."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[Callable[..., VoilaServer]]:
    """Factory: voila(*serve_args, token=...) starts a server that is stopped after the test."""
    started: list[VoilaServer] = []

    def factory(*args: str, **kwargs: object) -> VoilaServer:
        server = start_voila(tmp_path, *args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        stop_voila(server)
