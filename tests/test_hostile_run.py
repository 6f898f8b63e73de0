"""One real report run with planted secrets and hostile data, then every output is inspected.

The run's environment holds secrets a kernel must never see (SMTP password, Voilà token and
cookie secret, a Plausible key, a cloud key, a secret-looking FAWKES_ANALYTICS_* variable) and
a source URL that carries a password. The notebook prints its whole environment, echoes a
driver-style error with credentials, and shows a table of formula-injection strings and a
1 MB label. Published files get the configured mode 0640.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import stat
from pathlib import Path

import nbformat
import pytest

from fawkes_analytics import runs

PLANTED = {
    "FAWKES_SMTP_PASSWORD": "planted-smtp-pw-7361",
    "FAWKES_VOILA_TOKEN": "planted-voila-token-1942",
    "FAWKES_VOILA_COOKIE_SECRET": "planted-cookie-secret-5520",
    "PLAUSIBLE_API_KEY": "planted-plausible-key-8813",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-key-0427",
    "FAWKES_ANALYTICS_ADMIN_TOKEN": "planted-fa-token-3318",
}
SOURCE_URL = "postgres://analyst:planted-source-pw-6650@db.internal:5432/analytics?sslmode=require"
ECHOED = "could not connect: postgres://u:planted-echo-pw-1111@h/db?access_token=planted-echo-token-2222 (motherduck_token=planted-echo-md-3333)"
SECRETS = [
    *PLANTED.values(),
    "planted-source-pw-6650",
    "planted-echo-pw-1111",
    "planted-echo-token-2222",
    "planted-echo-md-3333",
]
HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "ok\r=cmd|' /C calc'!A0",
    "line one\nline two",
    'quote " inside, and a comma',
    "plain text",
]
LONG_LABEL = "campaign-" + "x" * 1_000_000

NOTEBOOK_CELLS = [
    'time_range: str = "7d"\ndemo: str = ""',
    """import hashlib, os
import pandas as pd
from fawkes_analytics import sources
from fawkes_analytics.metrics.kpis import Kpi
from fawkes_analytics.report import Report
from fawkes_analytics.timerange import resolve

source = sources.connect(demo)
report = Report("hostile", "Hostile report", source, resolve(time_range, as_of=source.default_as_of()))
report.header()""",
    """print("ENV", sorted(os.environ.items()))
print("SOURCE-DIGEST", hashlib.sha256(sources.default_url().encode()).hexdigest())
print(ECHO)""",
    """report.kpis([Kpi.compare("events", LONG_LABEL, 5.0, 4.0)])
report.table("hostile", pd.DataFrame({"text": HOSTILE + [LONG_LABEL], "n": list(range(-5, len(HOSTILE) - 4))}))""",
    "report.save()",
]


@pytest.fixture(scope="module")
def hostile_run(demo_db, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("hostile")
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    # The echoed credentials are assembled at run time: a notebook's source holds no secrets.
    parts = {word: repr(word.split("-")) for word in SECRETS if "echo" in word}
    echo = ECHOED
    for word, pieces in parts.items():
        echo = echo.replace(word, f"{{'-'.join({pieces})}}")
    constants = f"ECHO = f{echo!r}\nHOSTILE = {HOSTILE!r}\nLONG_LABEL = 'campaign-' + 'x' * 1_000_000\n"
    cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    cells[0].metadata["tags"] = ["parameters"]
    cells.insert(1, nbformat.v4.new_code_cell(constants))
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "fawkes-analytics", "display_name": "Fawkes Analytics", "language": "python"}
    nbformat.write(nb, notebooks / "hostile.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PLANTED.items():
            patch.setenv(name, value)
        patch.setenv("FAWKES_ANALYTICS_SOURCE", SOURCE_URL)
        patch.setenv("FAWKES_ANALYTICS_ROLLUPS", str(folder / "rollups"))
        patch.setenv("FAWKES_ANALYTICS_FILE_MODE", "0640")
        record = runs.run_report(
            "hostile",
            {"demo": f"duckdb://{demo_db.path}"},
            notebooks=notebooks,
            reports_dir=folder / "reports",
            outputs=("html", "csv", "json"),
            timeout=300,
        )
    assert record.succeeded, record.error
    notebook = json.loads((Path(record.run_dir) / "notebook.ipynb").read_text())
    printed = "".join(
        "".join(o.get("text", "")) for c in notebook["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout"
    )
    return Path(record.run_dir), printed


@pytest.mark.slow
def test_no_planted_secret_reaches_any_published_file(hostile_run) -> None:
    run_dir, _ = hostile_run
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"notebook.ipynb", "report.html", "run.json", "data.json", "run.log", "hostile.csv"} <= {
        p.name for p in files
    }
    for path in files:
        content = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in content, f"{secret} leaked into {path.name}"
    html = (run_dir / "report.html").read_text()
    assert "postgres://u:***@h/db?access_token=***" in html and "motherduck_token=***" in html


@pytest.mark.slow
def test_kernel_gets_an_allow_listed_environment_and_the_source_url_as_a_file(hostile_run) -> None:
    _, printed = hostile_run
    env = dict(ast.literal_eval(printed.split("ENV ", 1)[1].splitlines()[0]))
    for name in [*PLANTED, "FAWKES_ANALYTICS_SOURCE"]:
        assert name not in env, f"{name} reached the kernel"
    assert {"PATH", "HOME", "FAWKES_ANALYTICS_RUN_DIR"} <= set(env)
    assert env["FAWKES_ANALYTICS_ROLLUPS"].endswith("rollups"), "non-secret settings pass"
    secret_file = Path(env["FAWKES_ANALYTICS_SOURCE_FILE"])
    digest = printed.split("SOURCE-DIGEST ", 1)[1].split()[0]
    assert digest == hashlib.sha256(SOURCE_URL.encode()).hexdigest(), "the kernel read the URL from the file"
    assert not secret_file.exists() and not secret_file.parent.exists(), "the secret file lives only as long as the run"


@pytest.mark.slow
def test_hostile_strings_survive_the_report_csv_and_cannot_run_as_formulas(hostile_run) -> None:
    run_dir, _ = hostile_run
    raw = (run_dir / "hostile.csv").read_bytes().decode("utf-8")
    csv.field_size_limit(2_000_000)  # the 1 MB label is one cell
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[0] == ["text", "n"] and len(rows) == len(HOSTILE) + 2  # no row was split by a CR or LF
    texts = [row[0] for row in rows[1:]]
    for original, written in zip(HOSTILE + [LONG_LABEL], texts, strict=True):
        starts_formula = original.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert written == ("'" + original if starts_formula else original)
    assert [row[1] for row in rows[1:]][:2] == ["-5", "-4"], "negative numbers stay numbers"
    # Every line of the file starts a row or continues a quoted cell: no line starts a formula.
    assert not any(line.startswith(("=", "+", "-", "@")) for line in raw.replace("\r\n", "\n").split("\n"))


@pytest.mark.slow
def test_a_one_megabyte_label_is_shortened_where_shown_and_kept_whole_in_data(hostile_run) -> None:
    run_dir, _ = hostile_run
    html = (run_dir / "report.html").read_text()
    assert LONG_LABEL not in html and ("campaign-" + "x" * 70) in html and "…" in html
    assert (run_dir / "report.html").stat().st_size < 1_000_000
    data = json.loads((run_dir / "data.json").read_text())
    assert data["kpis"]["events"]["label"] == LONG_LABEL
    assert LONG_LABEL in (run_dir / "hostile.csv").read_text()


@pytest.mark.slow
def test_every_published_file_has_the_configured_mode(hostile_run) -> None:
    run_dir, _ = hostile_run
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run_dir.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o640}, modes
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o750
