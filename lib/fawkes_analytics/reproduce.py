"""Reproducible runs: ``rerun`` a published run and ``diff`` two runs.

A run folder's run.json records what produced it: the parameters, the absolute data range
(``data_range``: start, end, time zone), the code (``versions``: package versions and the git
commit of the checkout), the data (``versions.data``: the rollup store's data version, or the
newest event of the source) and the rollup store version it read (``rollups``).

``rerun RUN`` runs the same report with the same parameters and the same absolute range (a
named range such as ``7d`` is replaced by its start and end, so "last 7 days" means the same
seven days as then) into a new run folder whose run.json names the run it repeats
(``rerun_of``). The data may have changed since (new events, a rebuilt store): the command
says so by comparing the data versions.

``diff RUN_A RUN_B`` compares the published numbers (data.json): every KPI field and every
table cell that differs, one line each. Numbers compare with a relative tolerance of 1e-9 (the
last bits of a float sum may differ between engines); exit code 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import settings
from .errors import ParameterError
from .records import RunRecord
from .runs import find_run

OUTPUT_FILES = {"html": "report.html", "pdf": "report.pdf", "json": "data.json"}
RELATIVE_TOLERANCE = 1e-9


def outputs_of(record: RunRecord) -> tuple[str, ...]:
    """The outputs a run produced (html, pdf, csv, json), to produce the same again."""
    files = set(record.outputs)
    kinds = [kind for kind, name in OUTPUT_FILES.items() if name in files]
    if any(name.endswith(".csv") for name in files):
        kinds.append("csv")
    return tuple(kinds) or ("html", "csv", "json")


def rerun_parameters(record: RunRecord, declared: dict[str, Any]) -> dict[str, Any]:
    """The parameters of ``record`` with its absolute data range in place of a named one."""
    params = dict(record.parameters)
    span = record.data_range or {}
    if span.get("start") and span.get("end") and "start" in declared and "end" in declared:
        params["start"], params["end"] = span["start"], span["end"]
        if span.get("tz") and "tz" in declared:
            params["tz"] = span["tz"]
    return params


def rerun(run: str | Path, reports_dir: Path | None = None, **options: Any) -> tuple[RunRecord, RunRecord]:
    """Run ``run`` again into a new folder; returns (the original record, the new one)."""
    from . import parameters
    from .runs import notebook_path, run_report

    root = Path(reports_dir or settings.reports_dir())
    original = RunRecord.read(find_run(run, root) / "run.json")
    params = rerun_parameters(original, parameters.declared(notebook_path(original.report)))
    options.setdefault("outputs", outputs_of(original))
    record = run_report(
        original.report,
        params,
        reports_dir=root,
        rerun_of=f"{original.report}/{original.run_id}",
        **options,
    )
    return original, record


# -- diff ----------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0)
    return a == b


def _show(value: Any) -> str:
    return "missing" if value is _MISSING else json.dumps(value, ensure_ascii=False)


_MISSING = object()


def _kpi_differences(a: dict[str, Any], b: dict[str, Any]) -> Iterator[str]:
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name, _MISSING), b.get(name, _MISSING)
        if left is _MISSING or right is _MISSING:
            yield f"kpi {name}: {'only in B' if left is _MISSING else 'only in A'}"
            continue
        left_fields = left if isinstance(left, dict) else {"value": left}
        right_fields = right if isinstance(right, dict) else {"value": right}
        for field in sorted(set(left_fields) | set(right_fields)):
            x, y = left_fields.get(field, _MISSING), right_fields.get(field, _MISSING)
            if not _same(x, y):
                yield f"kpi {name}.{field}: {_show(x)} -> {_show(y)}"


def _table_differences(a: dict[str, Any], b: dict[str, Any]) -> Iterator[str]:
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if left is None or right is None:
            yield f"table {name}: {'only in B' if left is None else 'only in A'}"
            continue
        if len(left) != len(right):
            yield f"table {name}: {len(left)} rows -> {len(right)} rows"
        for i, (row_a, row_b) in enumerate(zip(left, right, strict=False)):
            for column in list(dict.fromkeys([*row_a, *row_b])):
                x, y = row_a.get(column, _MISSING), row_b.get(column, _MISSING)
                if not _same(x, y):
                    yield f"table {name} row {i + 1} {column}: {_show(x)} -> {_show(y)}"


def differences(run_a: Path, run_b: Path) -> list[str]:
    """Every KPI field and table cell of ``run_a``'s data.json that differs in ``run_b``'s."""
    data = []
    for run_dir in (run_a, run_b):
        path = run_dir / "data.json"
        if not path.exists():
            raise ParameterError("run", f"{run_dir} has no data.json (a failed run, or one without json output)")
        data.append(json.loads(path.read_text(encoding="utf-8")))
    a, b = data
    return [
        *_kpi_differences(a.get("kpis") or {}, b.get("kpis") or {}),
        *_table_differences(a.get("tables") or {}, b.get("tables") or {}),
    ]


# -- commands -----------------------------------------------------------------------------


def _reports_root(value: Path | None) -> Path:
    return settings.resolve_path(value) if value else settings.reports_dir()


def _version_line(record: RunRecord) -> str:
    v = record.versions
    return f"code {v.get('git_commit') or v.get('fawkes_analytics', '?')}, data {v.get('data', '?')}"


def _cmd_rerun(args: argparse.Namespace) -> int:
    original, record = rerun(args.run, _reports_root(args.reports_dir), timeout=args.timeout)
    print(f"rerun of {original.report}/{original.run_id} ({_version_line(original)})")
    print(record.summary())
    if record.error:
        print(f"    error: {record.error}", file=sys.stderr)
    if record.succeeded and original.versions.get("data") != record.versions.get("data"):
        print(
            f"note: the data changed since (data version {original.versions.get('data')} -> "
            f"{record.versions.get('data')}); `fawkes-analytics diff` shows what moved"
        )
    return 0 if record.succeeded else 1


def _cmd_diff(args: argparse.Namespace) -> int:
    root = _reports_root(args.reports_dir)
    run_a, run_b = find_run(args.run_a, root), find_run(args.run_b, root)
    lines = differences(run_a, run_b)
    for line in lines:
        print(line)
    print(f"{len(lines)} difference(s) between {run_a.parent.name}/{run_a.name} and {run_b.parent.name}/{run_b.name}")
    return 1 if lines else 0


def register_cli(commands: argparse._SubParsersAction) -> None:
    """The ``rerun`` and ``diff`` commands."""
    from .commands import help_of, positive_seconds

    rerun_parser = commands.add_parser("rerun", help=help_of("rerun"), description=__doc__.split("\n\n")[2])
    rerun_parser.add_argument("run", help="REPORT/RUN_ID (as `history` shows it), a run id, or the run folder")
    rerun_parser.add_argument("--timeout", type=positive_seconds, default=1800, help="overall timeout in seconds")
    rerun_parser.add_argument("--reports-dir", type=Path, help="where run folders are (default reports/)")
    rerun_parser.set_defaults(func=_cmd_rerun)

    diff = commands.add_parser("diff", help=help_of("diff"), description=__doc__.split("\n\n")[3])
    diff.add_argument("run_a", help="REPORT/RUN_ID, a run id, or a run folder")
    diff.add_argument("run_b", help="REPORT/RUN_ID, a run id, or a run folder")
    diff.add_argument("--reports-dir", type=Path, help="where run folders are (default reports/)")
    diff.set_defaults(func=_cmd_diff)
