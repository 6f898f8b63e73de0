"""Entry points start fast: the light commands import no analytics stack (issue 15, point 9).

Each command runs in a fresh interpreter, which then reports the modules it loaded. The times
themselves are measured by bench/bench_startup.py (never in a test).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fawkes_analytics.commands import COMMANDS

HEAVY = ("pandas", "ibis", "matplotlib", "IPython", "duckdb", "numpy", "papermill", "nbformat", "jsonschema")
PROBE = """
import json, sys
from fawkes_analytics.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits through argparse
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(HEAVY)))
print("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}))
"""


def probe(*argv: str, env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace("HEAVY", repr(json.dumps(HEAVY))), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE "))
    return {**json.loads(line.removeprefix("PROBE ")), "out": result.stdout, "err": result.stderr}


@pytest.fixture(scope="module")
def quiet_schedule(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A schedule whose latest slot has run already: `schedule --once` has nothing to do."""
    root = tmp_path_factory.mktemp("startup")
    schedules, reports = root / "schedules", root / "reports"
    schedules.mkdir()
    (schedules / "yearly.yaml").write_text('name: yearly\ncron: "0 6 1 1 *"\ntimezone: UTC\nreport: usage_trends\n')
    state = reports / ".scheduler"
    state.mkdir(parents=True)
    (state / "yearly.state.json").write_text(json.dumps({"last_slot": "2099-01-01T06:00:00+00:00"}))
    return schedules, reports


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["list"], ["history"], ["run", "usage_trends", "--help"]],
    ids=lambda argv: " ".join(argv),
)
def test_light_commands_import_no_analytics_stack(argv: list[str], tmp_path: Path) -> None:
    result = probe(*argv, "--reports-dir", str(tmp_path)) if argv[0] == "history" else probe(*argv)
    assert result["code"] == 0, result["err"]
    assert result["heavy"] == [], f"{' '.join(argv)} imported {result['heavy']}"


def test_schedule_check_and_once_with_nothing_due_import_no_analytics_stack(quiet_schedule) -> None:
    schedules, reports = quiet_schedule
    check = probe("schedule", "--check", "--dir", str(schedules))
    assert check["code"] == 0 and "yearly" in check["out"] and check["heavy"] == []
    once = probe("schedule", "--once", "--dir", str(schedules), "--reports-dir", str(reports))
    assert once["code"] == 0, once["err"]
    assert once["heavy"] == []
    assert not (reports / "usage_trends").exists()  # nothing ran


def test_a_parameter_error_is_reported_before_any_analytics_stack_loads() -> None:
    result = probe("run", "usage_trends", "-p", "time_range=2y")
    assert result["code"] == 2
    assert "parameter 'time_range': unknown range '2y'" in result["err"] and "'90d'" in result["err"]
    assert result["heavy"] == []
    unknown = probe("run", "usage_trends", "-p", "colour=red")
    assert unknown["code"] == 2 and "unknown parameter of usage_trends" in unknown["err"] and unknown["heavy"] == []


def test_the_command_table_matches_what_each_module_registers() -> None:
    """`--help` lists commands from commands.py without importing them; each module's own
    register_cli must add exactly those commands, with the same help line."""
    by_module: dict[str, dict[str, str]] = {}
    for name, (module, help_text) in COMMANDS.items():
        by_module.setdefault(module, {})[name] = help_text
    for module, expected in by_module.items():
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers()
        importlib.import_module(module).register_cli(commands)
        helps = {action.dest: action.help for action in commands._choices_actions}
        assert helps == expected, module
