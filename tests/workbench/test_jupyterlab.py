"""JupyterLab as `make lab` starts it (issue 19, point 1): open a report notebook, run all cells,
find its KPI tiles. Debian's Chromium through Playwright; the screenshot is kept as an artifact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))
import support  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "jupyterlab"
TOKEN = "lab-test-token"


@pytest.fixture
def lab(demo_db, tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a copy of a report notebook (so autosave never touches the repository),
    with the settings `make lab` gives: the demo source and the caller's directory."""
    if not Path(support.CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "usage_trends.ipynb", notebooks)
    port = support.free_port()
    env = {
        **os.environ,
        "FAWKES_ANALYTICS_SOURCE": f"duckdb://{demo_db.path}",
        "FAWKES_ANALYTICS_WORKDIR": str(tmp_path),
        "FAWKES_ANALYTICS_REPORTS_DIR": str(tmp_path / "reports"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={notebooks}",
        "--MappingKernelManager.default_kernel_name=fawkes-analytics",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI and containers run as root
    ]
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/status", params={"token": TOKEN}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 90 s")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def run_all_cells(lab: str) -> tuple[str, list[str]]:
    """Open the notebook, run all cells, keep a picture; returns the KPI output's text and the
    error outputs."""
    with support.chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{lab}/lab/tree/usage_trends.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
        # the notebook's kernel (fawkes-analytics) is preselected: its name shows in the toolbar
        page.wait_for_selector(".jp-NotebookPanel-toolbar >> text=Fawkes Analytics", timeout=60_000)
        page.click("li.lm-MenuBar-item >> text=Run")
        page.click('li.lm-Menu-item[data-command="runmenu:run-all"]')  # Run > Run All Cells
        tiles = page.locator(".jp-OutputArea-output").filter(has_text="Visitors")
        tiles.first.wait_for(timeout=240_000)
        page.wait_for_selector(".jp-OutputArea-output img", timeout=120_000)  # a chart came back too
        # every cell ran: no prompt still shows [*] (queued or running)
        page.wait_for_function(
            "() => ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.innerText.includes('*'))",
            timeout=240_000,
        )
        # back to the top (JupyterLab draws only the cells in view) for the picture of the KPI tiles
        page.evaluate("() => document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer').scrollTo(0, 0)")
        page.locator(".jp-OutputArea-output").filter(has_text="Visitors").first.wait_for(state="visible")
        news = page.locator(".jp-Notification-Toast button", has_text="No")
        if news.count():
            news.first.click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "usage_trends.png"))
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        return tiles.first.text_content() or "", [errors.nth(i).inner_text() for i in range(errors.count())]


def test_a_report_notebook_runs_in_jupyterlab_and_shows_its_kpis(lab: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # In a thread of its own: a session-wide Playwright (the dashboard tests') may hold this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        kpis, errors = pool.submit(run_all_cells, lab).result()
    assert "Visitors" in kpis
    assert not [text for text in errors if "Traceback" in text or "Error" in text], errors
