"""The dashboard server keeps secrets out of its kernels and serves nothing without the token."""

from __future__ import annotations

from pathlib import Path

import httpx
import nbformat
import pytest

from .conftest import start_voila, stop_voila

TOKEN = "voila-token-planted-7719"
PLANTED = {
    "FAWKES_SMTP_PASSWORD": "smtp-planted-4410",
    "FAWKES_VOILA_COOKIE_SECRET": "cookie-planted-0093",
    "PLAUSIBLE_API_KEY": "plausible-planted-5521",
    "FAWKES_ANALYTICS_SOURCE": "postgres://app:source-planted-8802@db/analytics",
}
PROBE = """import os
from fawkes_analytics.sources import default_url
print("NAMES", sorted(os.environ))
print("VALUES", " | ".join(os.environ.values()))
print("SOURCE-OK", default_url() == "postgres://app:" + "source-planted-" + "8802@db/analytics")"""


@pytest.mark.slow
def test_dashboard_kernels_see_no_secret_and_the_file_route_serves_nothing(tmp_path: Path, monkeypatch) -> None:
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PROBE)]
    nb.metadata["kernelspec"] = {"name": "fawkes-analytics", "display_name": "Fawkes Analytics", "language": "python"}
    nbformat.write(nb, dashboards / "probe.ipynb")
    (dashboards / "chart.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    server = start_voila(tmp_path, token=TOKEN, notebooks_dir=dashboards)
    try:
        page = httpx.get(server.url + "/voila/render/probe.ipynb", params={"token": TOKEN}, timeout=90)
        files = [
            httpx.get(server.url + "/voila/files/chart.png", timeout=10),
            httpx.get(server.url + "/voila/files/chart.png", params={"token": TOKEN}, timeout=10),
        ]
    finally:
        stop_voila(server)
    assert page.status_code == 200 and "NAMES" in page.text
    for secret in [TOKEN, *PLANTED.values(), "source-planted-8802"]:
        assert secret not in page.text, f"{secret} reached a dashboard kernel"
    for name in ("FAWKES_VOILA_TOKEN", "FAWKES_VOILA_COOKIE_SECRET", "FAWKES_SMTP_PASSWORD", "PLAUSIBLE_API_KEY"):
        assert f"'{name}'" not in page.text
    assert "FAWKES_ANALYTICS_SOURCE_FILE" in page.text and "SOURCE-OK True" in page.text
    assert [r.status_code for r in files] == [403, 403]
