"""The dashboard server with a token and a cap of two kernels, as stakeholders meet it.

- beyond the cap a viewer gets a "busy, retrying" page that opens the dashboard by itself as
  soon as a seat is free, and the kernel count never exceeds the cap;
- no secret of the server's environment, and not the token a viewer put in the URL, is in a
  kernel's ``/proc/<pid>/environ``;
- CSV downloads are the safe CSV of the published view (a formula is neutralised) and need
  the token, like the pages; report links open the report in the browser, with the token too.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from pathlib import Path

import httpx
import pytest
import support

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "dash-token-planted-3391"
CAP = 2
PLANTED = {
    "FAWKES_SMTP_PASSWORD": "smtp-planted-7712",
    "FAWKES_ANALYTICS_SMTP_PASSWORD": "smtp-planted-7713",
    "FAWKES_VOILA_COOKIE_SECRET": "cookie-planted-2290",
    "FAWKES_ANALYTICS_API_ADMIN_TOKEN": "admin-planted-5518",
    "PLAUSIBLE_API_KEY": "plausible-planted-0641",
}
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def voila(demo_url: str, published: Path) -> support.Voila:
    env = support.server_env(demo_url, published) | PLANTED
    with support.Voila(env, token=TOKEN, max_kernels=CAP) as server:
        yield server


class KernelCounter:
    """Samples the server's kernel processes every 0.2 s; ``most`` is the highest count seen."""

    def __init__(self, server: support.Voila) -> None:
        self.server, self.most, self._stop = server, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.most = max(self.most, len(self.server.kernels()))
            except Exception:  # noqa: BLE001,S112 - a process ending while sampled
                continue

    def __enter__(self) -> KernelCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def open_dashboard(browser: object, server: support.Voila, name: str = "overview") -> object:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.goto(support.page_url(server, name))
    return tab


def test_beyond_the_cap_a_page_retries_by_itself_until_a_seat_is_free(
    voila: support.Voila, browser: object, artifacts: Path
) -> None:
    with KernelCounter(voila) as counter:
        first = open_dashboard(browser, voila, "overview")
        second = open_dashboard(browser, voila, "usage")
        for tab in (first, second):
            support.wait_for_view(tab, "range=7d", "precomputed")
        assert len(voila.kernels()) == CAP
        third = browser.new_context().new_page()  # type: ignore[attr-defined]
        response = third.goto(support.page_url(voila, "features"))
        assert response.status == 503 and response.headers["retry-after"] == "3"
        text = third.inner_text("body")
        assert f"All {CAP} seats of this server are taken" in text and "retries by itself" in text
        assert "error" not in text.lower()
        support.screenshot(third, artifacts / "busy.png")
        support.leave(first)  # a viewer closes their tab: a seat is free
        support.wait_for_view(third, "range=7d", "precomputed")  # the busy page retried by itself
        assert third.inner_text(".fwk-header h1") == "Feature adoption"
        support.leave(second)
        support.leave(third)
    assert counter.most <= CAP


def test_no_secret_reaches_a_kernels_environment(voila: support.Voila, browser: object) -> None:
    tab = open_dashboard(browser, voila, "overview")  # the URL carries ?token=...
    support.wait_for_view(tab, "range=7d", "precomputed")
    kernels = voila.kernels()
    assert kernels
    for kernel in kernels:
        environ = Path(f"/proc/{kernel.pid}/environ").read_bytes().decode(errors="replace")
        for value in (TOKEN, *PLANTED.values()):
            assert value not in environ, (kernel.pid, value[:8])
        assert "FAWKES_ANALYTICS_SOURCE" in environ or "FAWKES_ANALYTICS_SOURCE_FILE" in environ
    support.leave(tab)


def test_csv_downloads_are_formula_safe_and_need_the_token(
    voila: support.Voila, published: Path, browser: object
) -> None:
    tab = open_dashboard(browser, voila, "usage")
    support.wait_for_view(tab, "range=7d", "precomputed")
    link = tab.locator("a.fwk-csv", has_text="usage_exit_pages.csv")
    with tab.expect_download() as info:
        link.click()
    body = Path(info.value.path()).read_bytes().decode("utf-8")
    on_disk = published / "dashboards" / "latest" / "7d" / "_all" / "csv" / "usage" / "usage_exit_pages.csv"
    assert body == on_disk.read_bytes().decode("utf-8")  # the file the safe CSV writer wrote, CRLF rows
    pages = [row["page"] for row in csv.DictReader(io.StringIO(body))]
    assert "'" + support.FORMULA_PAGE in pages  # neutralised: a spreadsheet shows it as text
    assert support.FORMULA_PAGE not in pages

    href = link.get_attribute("href")
    url = f"{voila.url}/fawkes/csv/" + href.split("fawkes/csv/", 1)[1]
    refused = httpx.get(url, timeout=30, follow_redirects=False)
    assert refused.status_code in (302, 401, 403) and "visitors" not in refused.text
    allowed = httpx.get(url, params={"token": TOKEN}, timeout=30)
    assert allowed.status_code == 200 and allowed.text == body
    escape = httpx.get(f"{voila.url}/fawkes/csv/..%2F..%2Fdemo.duckdb", params={"token": TOKEN}, timeout=30)
    assert escape.status_code == 404

    page = httpx.get(f"{voila.url}/voila/render/usage.ipynb", timeout=30, follow_redirects=False)
    assert page.status_code in (302, 401, 403) and "fwk-tile" not in page.text  # the first paint needs the token too

    report = f"{voila.url}/fawkes/reports/overview/"
    assert httpx.get(report, timeout=30, follow_redirects=False).status_code in (302, 401, 403)
    opened = httpx.get(report, params={"token": TOKEN}, timeout=30)
    assert opened.status_code == 200 and opened.headers["content-disposition"] == "inline"
    support.leave(tab)
    time.sleep(0.5)
