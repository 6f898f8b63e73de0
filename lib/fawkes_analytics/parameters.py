"""Typed report parameters: read what a notebook declares, coerce and check what is given.

A report notebook declares its parameters in the cell tagged ``parameters`` with type
annotations (``time_range: str = "7d"``). Everything is checked here, before a kernel starts,
and refused with a ``ParameterError`` naming the parameter and what is allowed:

- unknown names, values of the wrong type, secret-looking names (secrets come from the
  environment), text longer than :data:`MAX_TEXT_LENGTH`;
- empty values where the notebook's default is not empty (``tz=""``, ``time_range=""``);
- values outside what the catalog and the library allow: time ranges, time zones, funnels,
  experiments, segments, granularities, retention periods, breakdown names;
- absurd dates (before 1970 or more than a year ahead) and ranges whose time series would
  have more than ``FAWKES_ANALYTICS_MAX_POINTS`` points (default 5,000) at the chosen
  granularity;
- path parameters (names ending in ``_path``, ``_file`` or ``_dir``): a relative path is read
  from the reports folder, and the resolved path must lie inside the reports folder, the
  folder of ``$FAWKES_ANALYTICS_METRICS_TEXTFILE`` or a folder of ``$FAWKES_ANALYTICS_PATH_ROOTS``
  (separated by ``:``). The notebook receives the absolute path.
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from . import catalog as catalog_module
from . import settings, timerange
from .errors import ParameterError
from .sources.base import looks_secret

MAX_POINTS_ENV = "FAWKES_ANALYTICS_MAX_POINTS"
PATH_ROOTS_ENV = "FAWKES_ANALYTICS_PATH_ROOTS"
DEFAULT_MAX_POINTS = 5_000
MAX_TEXT_LENGTH = 1_000
OTHER_SEGMENT = "other"  # users no segment rule matched (metrics/segments.py's OTHER)
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
PATH_SUFFIXES = ("_path", "_file", "_dir")
GRANULARITY_SECONDS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
# Breakdown names: an events column or a JSON properties key, PostHog-style $names included.
BREAKDOWN_NAME = re.compile(r"^\$?[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")

_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Parameter:
    """One parameter a report notebook declares in its ``parameters`` cell."""

    name: str
    type: str  # str, int, float, bool, list or dict
    default: Any
    help: str = ""  # the comment after the assignment

    def __getitem__(self, key: str) -> Any:  # the mapping form older callers read
        return getattr(self, key)


def parameters_cell(notebook: str | Path) -> str:
    """The source of the notebook's cell tagged ``parameters`` ('' when it has none).

    Read as plain JSON: nbformat and papermill are slow to import, and this runs before any
    command decides what to load.
    """
    path = Path(notebook)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParameterError("report", f"cannot read the notebook {path.name}: {exc}") from None
    for cell in data.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return ""


def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    out = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            out[token.start[0]] = token.string.lstrip("#").strip()
    return out


def declared(notebook: str | Path) -> dict[str, Parameter]:
    """The parameters a notebook declares: name -> :class:`Parameter` (type, default, help).

    The same reading as papermill's ``inspect_notebook``: ``name: type = default  # help``
    (the annotation gives the type; without one, the default's type does).
    """
    source = parameters_cell(notebook)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(
            "parameters", f"the parameters cell of {Path(notebook).name} is not Python: {exc}"
        ) from None
    comments = _comments(source)
    out = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, annotation, value = node.target.id, ast.unparse(node.annotation), node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation, value = node.targets[0].id, "", node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = ast.unparse(value)
        type_name = annotation if annotation in _TYPES else (type(default).__name__ if default is not None else "str")
        if type_name not in _TYPES:
            type_name = "str"
        out[name] = Parameter(name, type_name, default, comments.get(node.end_lineno or node.lineno, ""))
    return out


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, with an error naming the variable if it is not one."""
    return settings.integer(name, default)


def _coerce(name: str, value: Any, type_name: str) -> Any:
    expected = _TYPES.get(type_name, str)
    if value is None:
        return None
    if isinstance(value, str) and expected is not str:
        text = value.strip()
        try:
            if expected is bool:
                if text.lower() in _TRUE:
                    return True
                if text.lower() in _FALSE:
                    return False
                raise ValueError(text)
            if expected is int:
                return int(text)
            if expected is float:
                return float(text)
            if expected is list:
                return (
                    [part.strip() for part in text.split(",") if part.strip()]
                    if not text.startswith("[")
                    else ast.literal_eval(text)
                )
        except (ValueError, SyntaxError) as exc:
            raise ParameterError(name, f"{value!r} is not a valid {type_name}") from exc
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ParameterError(name, f"expected {type_name}, got {type(value).__name__} {value!r}")
    return value


def max_points() -> int:
    """The cap on time-series points per report (``$FAWKES_ANALYTICS_MAX_POINTS``, default 5,000)."""
    value = env_int(MAX_POINTS_ENV, DEFAULT_MAX_POINTS)
    if value < 1:
        raise ParameterError(MAX_POINTS_ENV, f"{value} is not a positive number of points")
    return value


def _check_time(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    resolved = timerange.resolve(
        params.get("time_range", "7d"), params.get("start") or None, params.get("end") or None, params.get("tz", "UTC")
    )
    if resolved.label == timerange.CUSTOM:
        latest = datetime.now(timezone.utc) + timedelta(days=366)
        for name, moment in (("start", resolved.start), ("end", resolved.end)):
            if not EARLIEST <= moment <= latest:
                raise ParameterError(
                    name,
                    f"{moment.date().isoformat()} is outside the dates a report can cover",
                    f"1970-01-01 to {latest.date().isoformat()}",
                )
    granularity = params.get("granularity")
    if granularity in (None, "", "auto"):
        granularity = resolved.default_granularity()
    if granularity not in GRANULARITY_SECONDS:
        return  # _check_granularity names the problem
    points = math.ceil(resolved.duration.total_seconds() / GRANULARITY_SECONDS[granularity])
    cap = max_points()
    if points > cap:
        raise ParameterError(
            "time_range" if resolved.label != timerange.CUSTOM else "start",
            f"{resolved.describe()} at {granularity} granularity has {points:,} points, more than the limit of "
            f"{cap:,} ({MAX_POINTS_ENV})",
            "a shorter range or a coarser granularity (day, week)",
        )


def _check_breakdown(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    breakdown = params.get("breakdown")
    if breakdown and not BREAKDOWN_NAME.match(breakdown):
        raise ParameterError(
            "breakdown",
            f"{breakdown!r} is not a column or property name",
            "empty, an events column (source, utm_source, page, ...) or a properties key such as $browser",
        )


def _check_funnels(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    for name in params.get("funnels") or []:
        if not isinstance(name, str) or name not in catalog.funnels:
            raise ParameterError("funnels", f"unknown funnel {name!r}", sorted(catalog.funnels))


def _check_experiment(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    experiment = params.get("experiment_id")
    if experiment and experiment not in catalog.experiment_ids:
        raise ParameterError("experiment_id", f"unknown experiment {experiment!r}", catalog.experiment_ids)


def segment_names(catalog: catalog_module.Catalog) -> list[str]:
    """Segments a report can filter on: 'all', the catalog's rules, and users no rule matched.

    The names come straight from the catalog when it lists rules (no query engine needed);
    only the built-in default rules need metrics/segments.py.
    """
    rules = (catalog.segments_raw or {}).get("rules") if isinstance(catalog.segments_raw, dict) else None
    if isinstance(rules, list) and rules and all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in rules):
        return ["all", *(r["name"] for r in rules), OTHER_SEGMENT]
    from .metrics import segments

    return ["all", *(rule.name for rule in segments.parse_rules(catalog)), segments.OTHER]


def _check_segment(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    segment = params.get("segment")
    if segment is not None and segment not in segment_names(catalog):
        raise ParameterError("segment", f"unknown segment {segment!r}", segment_names(catalog))


def _check_granularity(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    allowed = ["auto", "hour", "day", "week"]
    if params.get("granularity") is not None and params["granularity"] not in allowed:
        raise ParameterError("granularity", f"unknown granularity {params['granularity']!r}", allowed)


def _check_period(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    allowed = ["auto", "day", "week"]
    if params.get("retention_period") not in allowed:
        raise ParameterError("retention_period", f"unknown period {params.get('retention_period')!r}", allowed)


# What each known parameter allows, for `list` and `run REPORT --help` (the checks above enforce it).
ALLOWED: dict[str, Callable[[catalog_module.Catalog], list[str] | str]] = {
    "time_range": lambda catalog: sorted(timerange.NAMED_RANGES, key=timerange.NAMED_RANGES.__getitem__),
    "tz": lambda catalog: "an IANA time zone such as UTC or Europe/Berlin",
    "start": lambda catalog: "empty, or an ISO date or time (read in tz)",
    "end": lambda catalog: "empty, or an ISO date or time (exclusive)",
    "granularity": lambda catalog: ["auto", "hour", "day", "week"],
    "retention_period": lambda catalog: ["auto", "day", "week"],
    "funnels": lambda catalog: sorted(catalog.funnels),
    "experiment_id": lambda catalog: ["", *catalog.experiment_ids],
    "segment": segment_names,
    "breakdown": lambda catalog: "empty, an events column or a properties key such as $browser",
}


def allowed_values(name: str, catalog: catalog_module.Catalog | None = None) -> list[str] | str | None:
    """What parameter ``name`` allows (a list of values or a sentence), or None when anything of its type goes."""
    if name.endswith(PATH_SUFFIXES):
        return "a path inside the reports folder or a folder of FAWKES_ANALYTICS_PATH_ROOTS"
    rule = ALLOWED.get(name)
    if rule is None:
        return None
    return rule(catalog or catalog_module.load())


def describe(spec: dict[str, Parameter], catalog: catalog_module.Catalog | None = None, indent: str = "") -> str:
    """The parameters as lines: name, type, default, allowed values, description."""
    if not spec:
        return f"{indent}(none)"
    catalog = catalog or catalog_module.load()
    lines = []
    for p in spec.values():
        lines.append(f"{indent}{p.name}: {p.type} = {p.default!r}" + (f"  {p.help}" if p.help else ""))
        allowed = allowed_values(p.name, catalog)
        if allowed is not None:
            text = ", ".join(repr(v) for v in allowed) if isinstance(allowed, list) else allowed
            lines.append(f"{indent}    allowed: {text}")
    return "\n".join(lines)


# Checks keyed by the parameter they look at; each runs when that parameter is declared.
CHECKS: dict[str, Callable[[dict[str, Any], catalog_module.Catalog], None]] = {
    "time_range": _check_time,
    "funnels": _check_funnels,
    "experiment_id": _check_experiment,
    "segment": _check_segment,
    "granularity": _check_granularity,
    "retention_period": _check_period,
    "breakdown": _check_breakdown,
}


def path_roots(reports_dir: Path | None) -> list[Path]:
    """Folders a path parameter may point into (see the module docstring)."""
    roots = []
    if reports_dir is not None:
        roots.append(Path(reports_dir))
    textfile = settings.metrics_textfile()
    if textfile:
        roots.append(textfile.parent)
    roots += settings.path_roots()
    return [root.resolve() for root in roots]


def _confine(name: str, value: str, reports_dir: Path | None) -> str:
    """The absolute path of a path parameter, refused unless it lies inside a configured folder."""
    roots = path_roots(reports_dir)
    if not roots:
        raise ParameterError(name, "path parameters need a reports folder or " + PATH_ROOTS_ENV)
    given = Path(value).expanduser()
    resolved = (given if given.is_absolute() else roots[0] / given).resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise ParameterError(
            name, f"{value!r} resolves to {resolved}, outside the allowed folders", [str(r) for r in roots]
        )
    return str(resolved)


def _check_value(name: str, value: Any, info: Parameter, reports_dir: Path | None) -> Any:
    """Checks every parameter gets: not empty when its default is not, bounded text, confined paths."""
    default = info["default"]
    if value in ("", []) and default not in ("", [], None):
        raise ParameterError(name, "must not be empty", f"a value such as {default!r} (the default)")
    texts = (
        [value]
        if isinstance(value, str)
        else [v for v in value if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )
    if any(len(text) > MAX_TEXT_LENGTH for text in texts):
        raise ParameterError(name, f"is longer than {MAX_TEXT_LENGTH:,} characters")
    if name.endswith(PATH_SUFFIXES) and isinstance(value, str) and value:
        return _confine(name, value, reports_dir)
    return value


def resolve(
    notebook: str | Path,
    given: dict[str, Any] | None,
    catalog: catalog_module.Catalog | None = None,
    reports_dir: Path | None = None,
) -> dict[str, Any]:
    """Coerce and check ``given`` against the notebook's declared parameters.

    Returns only the parameters that were given (papermill keeps the notebook's defaults for
    the rest), path parameters made absolute. Secrets are refused outright: they come from
    the environment, never parameters. ``reports_dir`` is where relative paths point.
    """
    spec = declared(notebook)
    given = dict(given or {})
    for name in given:
        if looks_secret(name):
            raise ParameterError(name, "secrets are read from environment variables, never passed as parameters")
        if name not in spec:
            raise ParameterError(name, f"unknown parameter of {Path(notebook).stem}", sorted(spec))
    coerced = {name: _coerce(name, value, spec[name]["type"]) for name, value in given.items()}
    coerced = {name: _check_value(name, value, spec[name], reports_dir) for name, value in coerced.items()}
    effective = {name: info["default"] for name, info in spec.items()} | coerced
    catalog = catalog or catalog_module.load()
    for name, check in CHECKS.items():
        if name in spec:
            check(effective, catalog)
    return coerced
