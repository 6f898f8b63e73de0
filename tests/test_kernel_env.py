"""Kernels get an allow-listed environment; secrets they need arrive as files, never as values."""

from __future__ import annotations

import stat
from pathlib import Path

from fawkes_analytics.kernel_env import kernel_env, kernel_environment
from fawkes_analytics.sources.base import read_secret

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/fawkes",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "JAVA_HOME": "/usr/lib/jvm/java-17",
    "SPARK_HOME": "/opt/spark",
    "PYSPARK_PYTHON": "/venv/bin/python",
    "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
    "IPYTHONDIR": "/tmp/ipython",
    "FAWKES_ANALYTICS_ROLLUPS": "/data/rollups.duckdb",
    "FAWKES_ANALYTICS_MEMORY_LIMIT": "2GB",
    "FAWKES_ANALYTICS_TEMP_DIR": "/scratch",
    "FAWKES_METRICS_TEXTFILE": "/var/lib/node_exporter/analytics.prom",
    # secrets: none of these may reach a kernel as a value
    "FAWKES_SMTP_PASSWORD": "smtp-pw",
    "FAWKES_SMTP_HOST": "mail.internal",
    "FAWKES_VOILA_TOKEN": "voila-token",
    "FAWKES_VOILA_COOKIE_SECRET": "cookie",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "GITHUB_TOKEN": "gh",
    "FAWKES_ANALYTICS_ADMIN_PASSWD": "fa-passwd",
    "FAWKES_ANALYTICS_EXPERIMENTS_URL": "https://exp.internal/api?auth=exp-auth",
    "PLAUSIBLE_API_KEY": "plausible-key",
    "FAWKES_ANALYTICS_SOURCE": "postgres://app:pg-pw@db/analytics",
}
SECRET_VALUES = ["smtp-pw", "voila-token", "cookie", "aws", "gh", "fa-passwd", "exp-auth", "plausible-key", "pg-pw"]


def test_allow_list_passes_what_python_jupyter_spark_and_the_settings_need(tmp_path: Path) -> None:
    env = kernel_environment(PARENT, secrets_dir=tmp_path)
    for name in (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "JAVA_HOME",
        "SPARK_HOME",
        "PYSPARK_PYTHON",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "FAWKES_ANALYTICS_ROLLUPS",
        "FAWKES_ANALYTICS_MEMORY_LIMIT",
        "FAWKES_ANALYTICS_TEMP_DIR",
    ):
        assert env[name] == PARENT[name]
    # a setting given under its old name reaches the kernel under the new one (settings.py)
    assert env["FAWKES_ANALYTICS_METRICS_TEXTFILE"] == PARENT["FAWKES_METRICS_TEXTFILE"]
    assert "FAWKES_METRICS_TEXTFILE" not in env
    for name in (
        "FAWKES_SMTP_HOST",
        "FAWKES_SMTP_PASSWORD",
        "FAWKES_VOILA_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN",
    ):
        assert name not in env
    assert not any(value in SECRET_VALUES for value in env.values())


def test_secrets_a_kernel_needs_are_private_files_and_read_back(tmp_path: Path) -> None:
    env = kernel_environment(PARENT, secrets_dir=tmp_path)
    assert "FAWKES_ANALYTICS_SOURCE" not in env and "PLAUSIBLE_API_KEY" not in env
    source_file = Path(env["FAWKES_ANALYTICS_SOURCE_FILE"])
    assert stat.S_IMODE(source_file.stat().st_mode) == 0o600
    assert read_secret("FAWKES_ANALYTICS_SOURCE", env) == PARENT["FAWKES_ANALYTICS_SOURCE"]
    assert read_secret("PLAUSIBLE_API_KEY", env) == "plausible-key"


def test_a_source_url_without_credentials_is_passed_as_it_is(tmp_path: Path) -> None:
    env = kernel_environment(
        {"FAWKES_ANALYTICS_SOURCE": "duckdb:///data/demo.duckdb", "FAWKES_ANALYTICS_WORKDIR": "/work"},
        secrets_dir=tmp_path,
    )
    assert env == {"FAWKES_ANALYTICS_SOURCE": "duckdb:///data/demo.duckdb", "FAWKES_ANALYTICS_WORKDIR": "/work"}
    assert list(tmp_path.iterdir()) == []


def test_an_operator_file_is_passed_on_and_nothing_is_written(tmp_path: Path) -> None:
    mounted = tmp_path / "mounted-secret"
    mounted.write_text("plausible-from-volume\n")
    env = kernel_environment(
        {"PLAUSIBLE_API_KEY_FILE": str(mounted), "FAWKES_ANALYTICS_WORKDIR": "/work"}, secrets_dir=tmp_path / "private"
    )
    # the old name's file reaches the kernel under the new name
    assert env == {"FAWKES_ANALYTICS_PLAUSIBLE_API_KEY_FILE": str(mounted), "FAWKES_ANALYTICS_WORKDIR": "/work"}
    assert read_secret("PLAUSIBLE_API_KEY", env) == "plausible-from-volume"


def test_the_private_folder_is_removed_when_the_run_ends(monkeypatch) -> None:
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", "postgres://app:pg-pw@db/analytics")
    with kernel_env({"FAWKES_ANALYTICS_RUN_DIR": "/reports/overview/.tmp-1"}) as env:
        path = Path(env["FAWKES_ANALYTICS_SOURCE_FILE"])
        assert path.read_text() == "postgres://app:pg-pw@db/analytics"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert env["FAWKES_ANALYTICS_RUN_DIR"] == "/reports/overview/.tmp-1"
    assert not path.exists() and not path.parent.exists()


def test_new_names_of_server_settings_stay_out_and_the_callers_directory_goes_in(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "private").mkdir()
    env = kernel_environment(
        {
            "FAWKES_ANALYTICS_SMTP_HOST": "mail.internal",
            "FAWKES_ANALYTICS_SMTP_USER": "reports",
            "FAWKES_ANALYTICS_VOILA_PREHEAT": "2",
            "FAWKES_ANALYTICS_PUSHGATEWAY_URL": "http://user:gw-pw@gateway:9091",
        },
        secrets_dir=tmp_path / "private",
    )
    assert not any(name.startswith(("FAWKES_ANALYTICS_SMTP_", "FAWKES_ANALYTICS_VOILA_")) for name in env)
    assert "gw-pw" not in env.values() and "FAWKES_ANALYTICS_PUSHGATEWAY_URL_FILE" in env
    # relative paths in the kernel (which runs in notebooks/) resolve against where the command ran
    assert env["FAWKES_ANALYTICS_WORKDIR"] == str(tmp_path)
