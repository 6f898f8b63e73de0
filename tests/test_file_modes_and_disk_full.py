"""Published files get one documented mode; a full disk fails a run with a clear error and
leaves no partial run folder (a real full tmpfs where the machine allows mounting one, and
an injected ENOSPC at the write layer everywhere)."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fawkes_analytics import atomic, runs
from fawkes_analytics.errors import DiskFull, ParameterError

TEST_NOTEBOOKS = Path(__file__).parent / "notebooks"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_published_files_follow_the_umask(tmp_path: Path, umask: int, expected: int, monkeypatch) -> None:
    monkeypatch.delenv("FAWKES_ANALYTICS_FILE_MODE", raising=False)
    previous = os.umask(umask)
    try:
        written = atomic.write_text(tmp_path / "data.json", "{}")
        plain = tmp_path / "report.html"
        plain.write_text("<html></html>")  # written the ordinary way, as nbconvert does
    finally:
        os.umask(previous)
    assert mode(written) == mode(plain) == expected  # mkstemp alone would give 0600


def test_a_configured_mode_wins_and_folders_get_the_search_bit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAWKES_ANALYTICS_FILE_MODE", "0640")
    (tmp_path / "run" / "charts").mkdir(parents=True)
    (tmp_path / "run" / "charts" / "a.png").write_bytes(b"png")
    atomic.write_text(tmp_path / "run" / "data.json", "{}")
    atomic.apply_modes(tmp_path / "run")
    assert mode(tmp_path / "run" / "data.json") == mode(tmp_path / "run" / "charts" / "a.png") == 0o640
    assert mode(tmp_path / "run") == mode(tmp_path / "run" / "charts") == 0o750
    monkeypatch.setenv("FAWKES_ANALYTICS_FILE_MODE", "0777")
    with pytest.raises(ParameterError, match="FAWKES_ANALYTICS_FILE_MODE"):
        atomic.file_mode()


def test_enospc_at_the_write_layer_is_a_clear_error_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull) as caught:
        atomic.write_text(tmp_path / "data.json", "{}")
    assert "no space left" in str(caught.value) and str(tmp_path / "data.json") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_hits_a_full_disk_leaves_no_folder(demo_env, tmp_path: Path, monkeypatch) -> None:
    def full(path, text):  # noqa: ANN001 - the atomic.write_text signature
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runs.atomic, "write_text", full)  # run.json is the first file a run writes
    with pytest.raises(DiskFull):
        runs.run_report("ok_report", notebooks=TEST_NOTEBOOKS, reports_dir=tmp_path / "reports")
    assert list((tmp_path / "reports" / "ok_report").iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs (the machine must allow mounting one: root in a container with CAP_SYS_ADMIN)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the injected ENOSPC tests cover it")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_fails_the_run_clearly_and_publishes_nothing(demo_env, small_disk: Path, tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("megabytes: int = 0"),
        nbformat.v4.new_code_cell(
            "import os, pathlib\n"
            "pathlib.Path(os.environ['FAWKES_ANALYTICS_RUN_DIR'], 'big.bin').write_bytes(b'x' * megabytes * 2**20)\n"
            "pathlib.Path(os.environ['FAWKES_ANALYTICS_RUN_DIR'], 'data.json').write_text('{}')"
        ),
    ]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "fawkes-analytics", "display_name": "Fawkes Analytics", "language": "python"}
    nbformat.write(nb, notebooks / "filler.ipynb")
    env = {
        **os.environ,
        "FAWKES_ANALYTICS_NOTEBOOKS_DIR": str(notebooks),
        "FAWKES_ANALYTICS_REPORTS_DIR": str(small_disk),
    }
    command = [sys.executable, "-m", "fawkes_analytics.cli", "run", "filler", "--outputs", "json"]
    good = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    published = sorted(p.name for p in (small_disk / "filler").iterdir())

    full = subprocess.run([*command, "-p", "megabytes=3"], env=env, capture_output=True, text=True, timeout=300)
    assert full.returncode == 2
    assert full.stderr.startswith("error: no space left on the device holding") and "Traceback" not in full.stderr
    assert sorted(p.name for p in (small_disk / "filler").iterdir()) == published, "no partial folder left behind"
    assert (small_disk / "filler" / "latest").resolve().name in published
