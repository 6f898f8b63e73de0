"""Experiment statistics: frequentist, Bayesian and sequential readouts with SRM checks.

Reference: GrowthBook's stats engine, statsmodels and SciPy (see shared/SEMANTICS.md,
Experiments). Entry point: ``analyze_experiment(source, catalog_or_experiment, ...)``.
"""

from .analysis import ExperimentResult, analyze_experiment, analyze_stats, cumulative_readout
from .config import Experiment, Metric, Rules, experiment_from_catalog, parse_experiment, parse_experiments
from .recommend import Recommendation
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
    "experiment_from_catalog",
    "parse_experiment",
    "parse_experiments",
    "srm_check",
    "user_table_experiment",
]
