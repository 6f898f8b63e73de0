"""Engine-agnostic queries behind every report: usage, adoption, segments, retention, feedback.

Each function takes a ``Source`` (Ibis tables on DuckDB, Spark or another backend) and a
``TimeRange`` and returns a typed ``Result`` holding scalar KPIs and small pandas frames.
Funnels live in ``metrics.funnels``.
"""

from __future__ import annotations

from .adoption import FeatureAdoption, feature_adoption
from .feedback import FeedbackSummary, feedback_summary
from .kpis import Kpi
from .retention import Lifecycle, Retention, lifecycle, retention
from .segments import UserSegments, restrict, user_segments, users_in_segment
from .sessions import clear_cache, sessions_in
from .usage import UsageTrends, usage_trends

__all__ = [
    "FeatureAdoption",
    "FeedbackSummary",
    "Kpi",
    "Lifecycle",
    "Retention",
    "UsageTrends",
    "UserSegments",
    "clear_cache",
    "feature_adoption",
    "feedback_summary",
    "lifecycle",
    "restrict",
    "retention",
    "sessions_in",
    "usage_trends",
    "user_segments",
    "users_in_segment",
]
