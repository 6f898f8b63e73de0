"""Experiment statistics: one readout per metric under the configured decision rule, SRM checks, power.

Reference: GrowthBook's stats engine (gbstats), statsmodels and SciPy (see shared/SEMANTICS.md,
Experiments, and docs/experiments.md). Entry point: ``analyze_experiment(source, catalog_or_experiment, ...)``.
"""

from .analysis import ExperimentResult, analyze_experiment, analyze_stats, cumulative_readout
from .config import Experiment, Metric, Rules, experiment_from_catalog, parse_experiment, parse_experiments
from .recommend import Recommendation, describe_rules
from .sources import EventsExperimentSource, UserTableSource, user_table_experiment
from .srm import SRMResult, srm_check

__all__ = [
    "EventsExperimentSource",
    "Experiment",
    "ExperimentResult",
    "Metric",
    "Recommendation",
    "Rules",
    "SRMResult",
    "UserTableSource",
    "analyze_experiment",
    "analyze_stats",
    "cumulative_readout",
    "describe_rules",
    "experiment_from_catalog",
    "parse_experiment",
    "parse_experiments",
    "srm_check",
    "user_table_experiment",
]
