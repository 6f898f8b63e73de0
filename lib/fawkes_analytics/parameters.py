"""Typed report parameters: read what a notebook declares, coerce and check what is given.

A report notebook declares its parameters in the cell tagged ``parameters`` with type
annotations (``time_range: str = "7d"``). Unknown names, values of the wrong type and values
outside what the catalog allows (an unknown funnel, experiment or time range) are refused
here, before a kernel starts, with a ``ParameterError`` naming the parameter and what is allowed.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import catalog as catalog_module
from . import timerange
from .errors import ParameterError

_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def declared(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares: name -> {type, default, help}."""
    import papermill  # slow to import; only needed when a notebook is inspected

    inspected = papermill.inspect_notebook(str(notebook))
    out = {}
    for name, info in inspected.items():
        type_name = info["inferred_type_name"]
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            default = info["default"]
        if type_name not in _TYPES:
            type_name = type(default).__name__ if default is not None else "str"
        out[name] = {"type": type_name, "default": default, "help": info.get("help", "")}
    return out


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, with an error naming the variable if it is not one."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ParameterError(name, f"{value!r} is not a whole number") from exc


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


def _check_time(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    timerange.resolve(
        params.get("time_range") or "7d",
        params.get("start") or None,
        params.get("end") or None,
        params.get("tz") or "UTC",
    )


def _check_funnels(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    for name in params.get("funnels") or []:
        if name not in catalog.funnels:
            raise ParameterError("funnels", f"unknown funnel {name!r}", sorted(catalog.funnels))


def _check_experiment(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    experiment = params.get("experiment_id")
    if experiment and experiment not in catalog.experiment_ids:
        raise ParameterError("experiment_id", f"unknown experiment {experiment!r}", catalog.experiment_ids)


def segment_names(catalog: catalog_module.Catalog) -> list[str]:
    """Segments a report can filter on: 'all', the catalog's rules, and users no rule matched."""
    from .metrics import segments

    return ["all", *(rule.name for rule in segments.parse_rules(catalog)), segments.OTHER]


def _check_segment(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    segment = params.get("segment")
    if segment and segment not in segment_names(catalog):
        raise ParameterError("segment", f"unknown segment {segment!r}", segment_names(catalog))


def _check_granularity(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    allowed = ["auto", "hour", "day", "week"]
    if params.get("granularity") and params["granularity"] not in allowed:
        raise ParameterError("granularity", f"unknown granularity {params['granularity']!r}", allowed)


def _check_period(params: dict[str, Any], catalog: catalog_module.Catalog) -> None:
    allowed = ["auto", "day", "week"]
    if params.get("retention_period") not in allowed:
        raise ParameterError("retention_period", f"unknown period {params.get('retention_period')!r}", allowed)


# Checks keyed by the parameter they look at; each runs when that parameter is declared.
CHECKS: dict[str, Callable[[dict[str, Any], catalog_module.Catalog], None]] = {
    "time_range": _check_time,
    "funnels": _check_funnels,
    "experiment_id": _check_experiment,
    "segment": _check_segment,
    "granularity": _check_granularity,
    "retention_period": _check_period,
}

SECRET_WORDS = ("password", "token", "secret", "api_key", "apikey")


def resolve(
    notebook: str | Path, given: dict[str, Any] | None, catalog: catalog_module.Catalog | None = None
) -> dict[str, Any]:
    """Coerce and check ``given`` against the notebook's declared parameters.

    Returns only the parameters that were given (papermill keeps the notebook's defaults for
    the rest). Secrets are refused outright: they come from the environment, never parameters.
    """
    spec = declared(notebook)
    given = dict(given or {})
    for name in given:
        if any(word in name.lower() for word in SECRET_WORDS):
            raise ParameterError(name, "secrets are read from environment variables, never passed as parameters")
        if name not in spec:
            raise ParameterError(name, f"unknown parameter of {Path(notebook).stem}", sorted(spec))
    coerced = {name: _coerce(name, value, spec[name]["type"]) for name, value in given.items()}
    effective = {name: info["default"] for name, info in spec.items()} | coerced
    catalog = catalog or catalog_module.load()
    for name, check in CHECKS.items():
        if name in spec:
            check(effective, catalog)
    return coerced
