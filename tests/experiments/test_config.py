"""Experiment definitions: the project's catalog parses, mistakes name their key."""

from __future__ import annotations

import copy

import pytest

from fawkes_analytics import catalog
from fawkes_analytics.errors import ConfigError, ParameterError
from fawkes_analytics.experiments import describe_rules, experiment_from_catalog, parse_experiment, parse_experiments

BASE = {
    "id": "x",
    "control": "a",
    "split": {"a": 0.5, "b": 0.5},
    "metrics": [{"name": "conv", "kind": "conversion", "event": "buy", "window_days": 7}],
}


def test_project_catalog_experiments_parse():
    cat = catalog.load()
    experiments = parse_experiments(cat.experiments_raw, cat.path)
    assert set(experiments) == {"onboarding_checklist", "pipeline_templates"}
    pipeline = experiments["pipeline_templates"]
    assert pipeline.variants == ["control", "gallery", "gallery_compact"]
    assert sum(pipeline.split.values()) == pytest.approx(1.0)
    assert pipeline.rules.primary_metric == "pipeline_run_7d" and pipeline.rules.correction == "holm"
    onboarding = experiment_from_catalog(cat, "onboarding_checklist")
    assert onboarding.metric("deployments_14d").covariate.days == 14
    assert onboarding.metric("deployments_14d").cap_percentile == 99
    with pytest.raises(ParameterError, match="unknown experiment"):
        experiment_from_catalog(cat, "nope")
    with pytest.raises(ParameterError, match="several experiments"):
        experiment_from_catalog(cat)


def test_defaults():
    e = parse_experiment(BASE)
    r = e.rules
    assert (r.alpha, r.alternative, r.correction, r.decision, r.primary_metric) == (
        0.05,
        "two-sided",
        "holm",
        "frequentist",
        "conv",
    )
    assert r.prior_sd is None and r.sequential_tuning == 5000
    rules = describe_rules(e)
    assert any("Stop for harm" in line for line in rules) and "p < 0.05" in rules[4]


def _mutate(path: list, value):
    raw = copy.deepcopy(BASE)
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (["control"], KeyError, "experiments[0].control"),
        (["control"], "z", "experiments[0].control"),
        (["split"], {"a": 0.5, "b": 0.6}, "experiments[0].split"),
        (["split", "b"], -1, "experiments[0].split.b"),
        (["metrics", 0, "kind"], "mean", "experiments[0].metrics[0].kind"),
        (["metrics", 0, "event"], KeyError, "experiments[0].metrics[0].event"),
        (["metrics", 0, "window_days"], 0, "experiments[0].metrics[0].window_days"),
        (["metrics", 0, "cap_percentile"], 99, "experiments[0].metrics[0].cap_percentile"),
        (["rules"], {"alpha": 2}, "experiments[0].rules.alpha"),
        (["rules"], {"correction": "bonferroni"}, "experiments[0].rules.correction"),
        (["rules"], {"primary_metric": "revenue"}, "experiments[0].rules.primary_metric"),
        (["rules"], {"sequential": {"tuning": -1}}, "experiments[0].rules.sequential.tuning"),
        (["rules"], {"alternative": "bigger"}, "experiments[0].rules.alternative"),
        (["rules"], {"guardrail_metrics": ["conv"]}, "experiments[0].rules.guardrail_metrics"),
    ],
)
def test_errors_name_the_key(path, value, key):
    with pytest.raises(ConfigError) as info:
        parse_experiment(_mutate(path, value), "analytics.yaml", "experiments[0]")
    assert info.value.key == key
    assert "analytics.yaml" in str(info.value)


def test_metric_kind_specific_keys():
    ratio = {"name": "aov", "kind": "ratio", "numerator": {"event": "buy", "property": "amount"}}
    with pytest.raises(ConfigError, match="denominator"):
        parse_experiment({**BASE, "metrics": [ratio]})
    with pytest.raises(ConfigError, match="property"):
        parse_experiment({**BASE, "metrics": [{"name": "rev", "kind": "sum", "event": "buy"}]})
    with pytest.raises(ConfigError, match="defined twice"):
        parse_experiments([BASE, BASE])
