"""Settings: every variable read in settings.py, one prefix, old names still work with a warning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fawkes_analytics import settings
from fawkes_analytics.delivery.email import SmtpSettings

ROOT = Path(__file__).resolve().parents[1]


def test_an_old_name_still_works_and_the_warning_names_the_new_one() -> None:
    env = {"FAWKES_SMTP_HOST": "mail.internal", "PUSHGATEWAY_URL": "http://gw:9091"}
    with pytest.warns(
        settings.DeprecatedSetting, match="FAWKES_SMTP_HOST is deprecated: set FAWKES_ANALYTICS_SMTP_HOST"
    ):
        assert settings.get("SMTP_HOST", env=env) == "mail.internal"
    with pytest.warns(DeprecationWarning, match="set FAWKES_ANALYTICS_PUSHGATEWAY_URL instead"):
        assert settings.secret("PUSHGATEWAY_URL", env) == "http://gw:9091"


def test_the_new_name_wins_and_gives_no_warning(recwarn) -> None:
    env = {"FAWKES_ANALYTICS_SMTP_HOST": "new.internal", "FAWKES_SMTP_HOST": "old.internal"}
    assert settings.get("SMTP_HOST", env=env) == "new.internal"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_a_secret_under_an_old_name_may_be_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("from-a-volume\n")
    with pytest.warns(settings.DeprecatedSetting):
        assert settings.secret("PLAUSIBLE_API_KEY", {"PLAUSIBLE_API_KEY_FILE": str(secret)}) == "from-a-volume"


def test_smtp_settings_read_old_and_new_names_alike() -> None:
    old = {"FAWKES_SMTP_HOST": "h", "FAWKES_SMTP_PORT": "2525", "FAWKES_SMTP_SECURITY": "none"}
    new = {k.replace("FAWKES_SMTP_", "FAWKES_ANALYTICS_SMTP_"): v for k, v in old.items()}
    with pytest.warns(settings.DeprecatedSetting):
        from_old = SmtpSettings.from_env(old)
    assert from_old == SmtpSettings.from_env(new) == SmtpSettings(host="h", port=2525, security="none")


def test_relative_paths_resolve_against_where_the_command_ran(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAWKES_ANALYTICS_REPORTS_DIR", "out/reports")
    assert settings.reports_dir() == tmp_path / "out" / "reports"
    # inside a kernel (cwd notebooks/) the run layer passes the caller's directory
    monkeypatch.setenv("FAWKES_ANALYTICS_WORKDIR", "/srv/analytics")
    assert settings.reports_dir() == Path("/srv/analytics/out/reports")
    monkeypatch.delenv("FAWKES_ANALYTICS_REPORTS_DIR")
    assert settings.reports_dir() == settings.PROJECT_ROOT / "reports"  # the default is the project's


def test_every_environment_variable_is_read_in_settings() -> None:
    """No module but settings.py reads os.environ (kernel_env.py builds kernel environments from it,
    isolation.py and api/refresh.py hand it to a child process; none of them reads a setting)."""
    allowed = {"settings.py", "kernel_env.py", "isolation.py", "refresh.py"}
    readers = []
    for path in (ROOT / "lib" / "fawkes_analytics").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name not in allowed and re.search(r"os\.environ|os\.getenv|getenv\(", text):
            readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_every_variable_has_the_prefix_and_the_docs_list_them_all() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for variable in settings.VARIABLES.values():
        assert variable.env_name.startswith("FAWKES_ANALYTICS_")
        assert f"`{variable.env_name}`" in docs, variable.env_name
        for old in variable.old:
            assert f"`{old}`" in docs, old
    assert settings.markdown_table() in docs  # the table is the one settings.py generates


def test_the_project_root_is_computed_once() -> None:
    computed = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "lib" / "fawkes_analytics").rglob("*.py")
        if re.search(r"Path\(__file__\)\.resolve\(\)\.parents\[", path.read_text(encoding="utf-8"))
    ]
    assert computed == ["lib/fawkes_analytics/settings.py"]
