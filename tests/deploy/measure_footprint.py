"""Measure what one Voilà server costs: idle, then with one dashboard kernel (not a test).

    .venv/bin/python tests/deploy/measure_footprint.py

Starts `python -m fawkes_analytics.serve` on a free loopback port, samples CPU and memory of
the server and of its kernels (PSS, so shared library pages are not double counted), renders
tests/deploy/footprint/footprint.ipynb (the imports and objects a real dashboard holds:
pandas, ibis+DuckDB, matplotlib, ipywidgets, fawkes_analytics) and samples again. The figures
justify the requests/limits in deploy/k8s/voila-deployment.yaml.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deploy.conftest import HERE, start_voila, stop_voila  # noqa: E402


def _pss_mib(proc: psutil.Process) -> float:
    return proc.memory_full_info().pss / 2**20


def sample(server_pid: int, seconds: float = 10.0) -> dict[str, float]:
    """Median CPU % (of one core) over `seconds`, and PSS of the server and of each kernel."""
    server = psutil.Process(server_pid)
    procs = [server, *server.children(recursive=True)]
    for p in procs:
        p.cpu_percent(None)
    cpu = []
    for _ in range(int(seconds)):
        time.sleep(1.0)
        cpu.append(sum(p.cpu_percent(None) for p in procs))
    kernels = [p for p in procs[1:] if "ipykernel_launcher" in " ".join(p.cmdline())]
    return {
        "cpu_percent_median": statistics.median(cpu),
        "server_pss_mib": _pss_mib(server),
        "kernels": len(kernels),
        "kernel_pss_mib": sum(_pss_mib(k) for k in kernels),
        "total_pss_mib": sum(_pss_mib(p) for p in procs),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_voila(Path(tmp), notebooks_dir=HERE / "footprint")
        try:
            time.sleep(3)
            idle = sample(server.process.pid)
            start = time.monotonic()
            page = httpx.get(server.url + "/voila/render/footprint.ipynb", timeout=120)
            render_s = time.monotonic() - start
            assert "footprint-total" in page.text, page.text[-2000:]
            busy_peak = sample(server.process.pid, seconds=1)
            time.sleep(3)
            one_kernel = sample(server.process.pid)
        finally:
            stop_voila(server)
    print(f"idle server:         {idle}")
    print(f"first render:        {render_s:.2f} s (kernel start + imports + execution)")
    print(f"right after render:  {busy_peak}")
    print(f"server + one kernel: {one_kernel}")


if __name__ == "__main__":
    main()
