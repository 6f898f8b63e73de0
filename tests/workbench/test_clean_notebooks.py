"""Notebooks are committed without outputs or execution counts (issue 19, point 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def committed_notebooks() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return sorted((ROOT / "notebooks").rglob("*.ipynb"))
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "notebooks/*.ipynb", "notebooks/**/*.ipynb"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in sorted(set(listed))]


def test_there_are_notebooks_to_check() -> None:
    assert len(committed_notebooks()) >= 7


@pytest.mark.parametrize("notebook", committed_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_committed_notebook_has_no_outputs_or_execution_counts(notebook: Path) -> None:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count") is not None]
    assert dirty == [], f"cells {dirty} of {notebook.name} carry outputs: `make setup` installs the git filter"


def test_git_strips_notebooks_under_notebooks_when_they_are_staged(tmp_path: Path) -> None:
    """The attribute is committed (.gitattributes); the filter is nbstripout keeping cell ids."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    attributes = subprocess.run(
        ["git", "-C", str(ROOT), "check-attr", "filter", "--", "notebooks/usage_trends.ipynb", "tests/x.ipynb"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert attributes == ["notebooks/usage_trends.ipynb: filter: nbstripout", "tests/x.ipynb: filter: unspecified"]
    # what the filter does to a notebook someone ran: outputs and counts go, ids and tags stay
    ran = json.loads((ROOT / "notebooks" / "usage_trends.ipynb").read_text(encoding="utf-8"))
    for cell in ran["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 3
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}]
    stripped = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-id"],
        input=json.dumps(ran),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(stripped) == json.loads((ROOT / "notebooks" / "usage_trends.ipynb").read_text(encoding="utf-8"))
