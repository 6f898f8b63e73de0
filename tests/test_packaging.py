"""Packaging: the pinned versions agree everywhere and work together."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import ibis
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        name, version = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(.+)$", requirement).groups()
        pins[name.lower()] = version
    return pins


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for requirement in pip_list:
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(.+)$", requirement)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_lists_the_same_pins_as_pyproject() -> None:
    assert environment_pins() == pyproject_pins()


def test_installed_versions_are_the_pinned_ones() -> None:
    for name, version in pyproject_pins().items():
        assert metadata.version(name) == version, name


def test_pins_avoid_the_known_incompatibilities() -> None:
    pins = pyproject_pins()
    # ibis-framework 12 fails on create_table with sqlglot 30 (a DuckDB parser error).
    assert int(pins["sqlglot"].split(".")[0]) < 30
    # ibis 12 calls DuckDBPyConnection.fetch_arrow_table, which DuckDB 2 removed; and a DuckDB 2
    # file cannot be opened by DuckDB 1.x, so one major version is pinned for every writer.
    assert pins["duckdb"].startswith("1.")


def test_ibis_and_duckdb_work_together_on_a_file(tmp_path: Path) -> None:
    path = tmp_path / "check.duckdb"
    con = ibis.duckdb.connect(str(path))
    con.create_table("t", pd.DataFrame({"a": [1, 2, 3]}))
    assert "t" in con.list_tables()
    con.disconnect()
    reopened = ibis.duckdb.connect(str(path), read_only=True)
    assert reopened.table("t").a.sum().execute() == 6
