"""The catalog (analytics.yaml): the shipped file loads, and mistakes name file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from fawkes_analytics import catalog
from fawkes_analytics.errors import ConfigError


def test_shipped_catalog_defines_the_platform_features_and_funnels() -> None:
    loaded = catalog.load()
    assert set(loaded.features) == {
        "deploy_application",
        "create_service",
        "view_documentation",
        "run_pipeline",
        "configure_monitoring",
    }
    assert set(loaded.funnels) == {"onboarding", "deployment", "service_creation"}
    onboarding = loaded.funnels["onboarding"]
    assert [s.event for s in onboarding.steps] == ["sign_up", "profile_setup", "first_template", "first_deployment"]
    assert onboarding.window == timedelta(days=14) and onboarding.order == "ordered"
    assert loaded.funnels["deployment"].exclusions[0].event == "deploy_failed"
    assert {"onboarding_checklist", "pipeline_templates"} <= set(loaded.experiment_ids)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("funnels:\n  - name: f\n    steps: [a]\n", "funnels[0].steps", "at least 2"),
        (
            "funnels:\n  - name: f\n    steps: [a, b]\n    order: random\n",
            "funnels[0].order",
            "ordered, strict, unordered",
        ),
        ("funnels:\n  - name: f\n    steps: [a, b]\n    window: soon\n", "funnels[0].window", "not a duration"),
        (
            "funnels:\n  - name: f\n    steps: [a, b]\n    exclusions: [{event: x, from_step: 2, to_step: 1}]\n",
            "funnels[0].exclusions[0]",
            "from_step",
        ),
        ("features:\n  - title: no name\n", "features[0].name", "required"),
        ("features:\n  - {name: a}\n  - {name: a}\n", "features", "defined twice"),
        ("features: [\n", "(file)", "not valid YAML"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        catalog.load(path)
    assert str(path) in str(caught.value) and f"key '{key}'" in str(caught.value) and problem in str(caught.value)


def test_funnel_lookup_lists_known_funnels() -> None:
    with pytest.raises(Exception, match="service_creation"):
        catalog.load().funnel("checkout")
