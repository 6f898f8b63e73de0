"""Deterministic, realistic demo data for the Fawkes platform, streamed into DuckDB.

The generator simulates users of a developer platform over ``days`` days ending at ``end``:

- four kinds of users (power, regular, casual, at risk), sign-ups that grow over time, and
  a weekly (quiet weekends) and daily (working hours, UTC) rhythm;
- Plausible-style visits: pageviews over a page tree, entry pages that depend on the traffic
  source (direct, search, GitHub, social, a newsletter campaign with UTM tags);
- the five tracked features and the onboarding, deployment and service-creation funnels
  with realistic drop-off (deployments can fail after the build);
- two experiments with a known true effect: ``onboarding_checklist`` raises the chance that
  a new user's onboarding ends in a first deployment by ``ONBOARDING_LIFT`` (relative), and
  ``pipeline_templates`` raises pipeline runs by ``GALLERY_LIFT`` in the ``gallery`` variant
  only (``gallery_compact`` has no effect);
- NPS survey answers;
- on request, known anomalies (spikes, drops, level shifts of one KPI at recorded dates,
  ``inject=[Anomaly(...)]``, see ``demo_inject``), recorded in the ``fawkes_meta`` table; the
  data outside the anomalies' days is the same as without them.

Everything is vectorised with NumPy and written in time-ordered chunks of about a million
events, so memory stays bounded whatever ``events`` is. The same seed gives the same data.
The file is written beside its target and renamed into place, so a failed run never leaves
a half-written database behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .demo_inject import Anomaly, Events, Injector, check, meta_value
from .errors import ParameterError

ONBOARDING_LIFT = 0.20  # relative lift of the last onboarding step for the checklist variant
GALLERY_LIFT = 0.25  # relative lift of pipeline runs per visit for the gallery variant
EXPERIMENT_DAYS = {"onboarding_checklist": 60, "pipeline_templates": 45}
PIPELINE_SPLIT = {"control": 0.34, "gallery": 0.33, "gallery_compact": 0.33}
DAY_US = 86_400_000_000
CHUNK_EVENTS = 250_000  # about this many events are generated and written at a time
CHECKPOINT_EVENTS = 1_000_000  # DuckDB writes its buffers to the file after this many

ARCHETYPES = ("power", "regular", "casual", "at_risk")
ARCHETYPE_SHARE = np.array([0.10, 0.45, 0.30, 0.15])
DAILY_ACTIVE_P = np.array([0.80, 0.35, 0.10, 0.30])  # chance of a visit on a weekday
EXTRA_VISITS = np.array([1.2, 0.4, 0.1, 0.2])  # mean extra visits on an active day
PAGES_PER_VISIT = np.array([6.0, 4.0, 2.2, 3.0])  # mean pageviews per visit
WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.4])  # Monday..Sunday
HOURS = np.array([1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 11, 11, 10, 9, 7, 6, 5, 4, 3, 2, 1], dtype=float)
HOURS /= HOURS.sum()

# (source, referrer, utm_source, utm_medium, utm_campaign, share, entry page weights key)
SOURCES = [
    ("Direct / None", None, None, None, None, 0.40, "app"),
    ("Google", "https://www.google.com/", None, None, None, 0.22, "docs"),
    ("GitHub", "https://github.com/", None, None, None, 0.10, "docs"),
    ("Hacker News", "https://news.ycombinator.com/", None, None, None, 0.05, "marketing"),
    ("LinkedIn", "https://www.linkedin.com/", "linkedin", "social", "platform-launch", 0.07, "marketing"),
    ("Newsletter", None, "newsletter", "email", "november-update", 0.08, "marketing"),
    ("Twitter", "https://t.co/", "twitter", "social", "platform-launch", 0.08, "marketing"),
]
SOURCE_SHARE = np.array([s[5] for s in SOURCES])
PAGES = [
    "/",
    "/pricing",
    "/blog/zero-downtime-deploys",
    "/blog/platform-engineering",
    "/signup",
    "/login",
    "/docs",
    "/docs/getting-started",
    "/docs/deploy",
    "/docs/services",
    "/docs/pipelines",
    "/docs/monitoring",
    "/dashboard",
    "/apps",
    "/apps/deploy",
    "/services",
    "/services/new",
    "/pipelines",
    "/monitoring",
    "/templates",
    "/settings/profile",
]
_ENTRY = {
    "app": {"/dashboard": 6, "/apps": 2, "/pipelines": 1, "/login": 2},
    "docs": {
        "/docs": 2,
        "/docs/getting-started": 3,
        "/docs/deploy": 2,
        "/docs/services": 1,
        "/docs/pipelines": 1,
        "/": 1,
    },
    "marketing": {"/": 4, "/pricing": 2, "/blog/zero-downtime-deploys": 2, "/blog/platform-engineering": 2},
}
_BROWSE = {
    "/dashboard": 6,
    "/apps": 4,
    "/apps/deploy": 2,
    "/services": 3,
    "/services/new": 1,
    "/pipelines": 3,
    "/monitoring": 2,
    "/templates": 1,
    "/settings/profile": 1,
    "/docs": 1,
    "/docs/deploy": 1,
    "/pricing": 0.5,
}

# Custom event blocks: each block is an ordered sequence; a visit emits the first k events.
ONBOARDING = ("sign_up", "profile_setup", "first_template", "first_deployment")
DEPLOYMENT = ("deploy_start", "deploy_configure", "build_complete", "deploy_success")
SERVICE = ("select_template", "configure_service", "review_and_create", "service_active")
EVENT_PAGE = {
    "sign_up": "/signup",
    "profile_setup": "/settings/profile",
    "first_template": "/templates",
    "first_deployment": "/apps/deploy",
    "deploy_start": "/apps/deploy",
    "deploy_configure": "/apps/deploy",
    "build_complete": "/apps/deploy",
    "deploy_success": "/apps/deploy",
    "deploy_failed": "/apps/deploy",
    "select_template": "/services/new",
    "configure_service": "/services/new",
    "review_and_create": "/services/new",
    "service_active": "/services",
    "view_documentation": "/docs",
    "run_pipeline": "/pipelines",
    "configure_monitoring": "/monitoring",
}
EVENT_NAMES = (
    "pageview",
    *ONBOARDING,
    *DEPLOYMENT,
    "deploy_failed",
    *SERVICE,
    "view_documentation",
    "run_pipeline",
    "configure_monitoring",
    "engagement",
)
ENGAGEMENT = EVENT_NAMES.index("engagement")
PLANS = ("free", "team", "enterprise")
NPS_CATEGORIES = ("deployments", "documentation", "pricing", "performance", "support")
NPS_COMMENTS = (
    "Deploys are fast and painless",
    "Docs could use more examples",
    "Pricing is hard to understand",
    "Builds are sometimes slow",
    None,
)


@dataclass
class DemoSummary:
    """What the generator wrote."""

    path: Path
    events: int
    users: int
    assignments: int
    feedback: int
    start: datetime
    end: datetime
    seed: int


def _weights(mapping: dict[str, float]) -> np.ndarray:
    weights = np.array([mapping.get(p, 0.0) for p in PAGES], dtype=float)
    return weights / weights.sum()


class _Population:
    """Per-user attributes drawn once; visits are drawn per time chunk from these."""

    def __init__(self, rng: np.random.Generator, users: int, days: int) -> None:
        self.n = users
        self.kind = rng.choice(len(ARCHETYPES), size=users, p=ARCHETYPE_SHARE)
        existing = rng.random(users) < 0.4  # already signed up before the data starts
        growth = days * np.sqrt(rng.random(users))  # more sign-ups later: density grows linearly
        self.signup = np.where(existing, -1.0, growth)  # day of sign-up (fraction = time of day)
        churn = days - 14 - rng.uniform(0, 60, users)
        self.churn = np.where(self.kind == 3, np.maximum(churn, self.signup + 3), np.inf)
        self.plan = rng.choice(len(PLANS), size=users, p=[0.6, 0.3, 0.1])
        self.checklist = rng.random(users) < 0.5
        self.pipeline_variant = rng.choice(len(PIPELINE_SPLIT), size=users, p=list(PIPELINE_SPLIT.values()))
        self.pipeline_assigned = np.full(users, np.inf)  # day of assignment, filled in time order
        self.onboarding_assigned = np.full(users, np.inf)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts per parent, the parent index and the position of each child."""
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return parent, np.arange(len(parent)) - starts[parent]


def _block(
    counts: np.ndarray, names: tuple[str, ...], block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    visit, pos = _expand(counts)
    codes = np.array([EVENT_NAMES.index(n) for n in names])[np.minimum(pos, len(names) - 1)]
    return visit, np.full(len(visit), block), pos, codes


def _steps(rng: np.random.Generator, started: np.ndarray, probs: list[np.ndarray | float]) -> np.ndarray:
    """How many steps of a sequence each visit reaches, given the step-to-step probabilities."""
    reached = started.astype(np.int64)
    alive = started.copy()
    for p in probs:
        alive = alive & (rng.random(len(started)) < p)
        reached += alive
    return reached


def _visits(rng: np.random.Generator, pop: _Population, day0: int, day1: int, start_us: int) -> dict[str, np.ndarray]:
    """Draw the visits of days [day0, day1): user, start time (us) and flags."""
    days = np.arange(day0, day1)
    user = np.repeat(np.arange(pop.n), len(days))
    day = np.tile(days, pop.n)
    alive = (day >= np.floor(pop.signup[user])) & (day < pop.churn[user])
    user, day = user[alive], day[alive]
    kind = pop.kind[user]
    weekday = WEEKDAY[((start_us // DAY_US + day + 3) % 7).astype(int)]  # 1970-01-01 was a Thursday
    is_signup_day = day == np.floor(pop.signup[user])
    active = is_signup_day | (rng.random(len(user)) < DAILY_ACTIVE_P[kind] * weekday)
    user, day, kind, is_signup_day = user[active], day[active], kind[active], is_signup_day[active]
    count = 1 + rng.poisson(EXTRA_VISITS[kind])
    visit_day, visit_pos = _expand(count)
    user, day, kind = user[visit_day], day[visit_day], kind[visit_day]
    first = is_signup_day[visit_day] & (visit_pos == 0)
    hour = rng.choice(24, size=len(user), p=HOURS)
    offset = (hour * 3600 + rng.integers(0, 3600, len(user))) * 1_000_000
    signup_offset = ((pop.signup[user] % 1) * DAY_US).astype(np.int64)
    offset = np.where(first, signup_offset, offset)
    start = start_us + day.astype(np.int64) * DAY_US + offset
    order = np.argsort(start, kind="stable")
    return {"user": user[order], "kind": kind[order], "start": start[order], "first": first[order]}


def _events_of(
    rng: np.random.Generator,
    pop: _Population,
    visits: dict[str, np.ndarray],
    start_us: int,
    days: int,
    inject: Injector | None = None,
) -> pa.Table:
    """Expand visits into events: pageviews plus the custom event blocks, in order."""
    n = len(visits["user"])
    user, kind, first = visits["user"], visits["kind"], visits["first"]
    day = (visits["start"] - start_us) / DAY_US

    # Experiments: assignment happens at the first visit inside the experiment's window.
    onboarding_window = first & (day >= days - EXPERIMENT_DAYS["onboarding_checklist"])
    pop.onboarding_assigned[user[onboarding_window]] = day[onboarding_window]
    eligible = (day >= days - EXPERIMENT_DAYS["pipeline_templates"]) & ~np.isfinite(pop.pipeline_assigned[user])
    first_users, first_idx = np.unique(user[eligible], return_index=True)
    pop.pipeline_assigned[first_users] = day[eligible][first_idx]

    in_checklist = onboarding_window & pop.checklist[user]
    last_step = np.where(in_checklist, 0.55 * (1 + ONBOARDING_LIFT), 0.55)
    onboarding = _steps(rng, first, [0.72, 0.60, last_step])

    deploy_p = np.array([0.45, 0.20, 0.06, 0.12])[kind]
    deploy = _steps(rng, rng.random(n) < deploy_p, [0.85, 0.80, 0.88])
    failed = (deploy == 3) & (rng.random(n) < 0.7)
    service = _steps(rng, rng.random(n) < np.array([0.12, 0.06, 0.02, 0.03])[kind], [0.75, 0.65, 0.90])
    docs = (rng.random(n) < np.array([0.10, 0.15, 0.25, 0.10])[kind]).astype(np.int64)
    gallery = (pop.pipeline_variant[user] == 1) & (pop.pipeline_assigned[user] <= day)
    pipeline_rate = np.array([0.8, 0.25, 0.05, 0.1])[kind] * np.where(gallery, 1 + GALLERY_LIFT, 1.0)
    pipelines = rng.poisson(pipeline_rate)
    monitoring = (rng.random(n) < np.array([0.08, 0.03, 0.01, 0.02])[kind]).astype(np.int64)
    bounce = (onboarding + deploy + service + docs + pipelines + monitoring) == 0
    pageviews = np.where(bounce & (rng.random(n) < 0.45), 1, 1 + rng.poisson(PAGES_PER_VISIT[kind] - 1))
    # Engagement pings (Plausible's "engagement" event) while the last page stays open, and
    # now and then one from a tab left open past the 30-minute session cut (dropped).
    pings = rng.binomial(2, 0.35, n)
    stale = (rng.random(n) < 0.02).astype(np.int64)
    # Some power users deploy from the command line now and then: custom events, no pageview.
    cli = (kind == 0) & (deploy > 0) & (rng.random(n) < 0.3)
    pageviews = np.where(cli, 0, pageviews)
    pings = np.where(cli, 0, pings)

    blocks = [
        _block((~cli).astype(np.int64), ("pageview",), 0),
        _block(onboarding, ONBOARDING, 1),
        _block(deploy, DEPLOYMENT, 2),
        _block(failed.astype(np.int64), ("deploy_failed",), 3),
        _block(service, SERVICE, 4),
        _block(docs, ("view_documentation",), 5),
        _block(pipelines, ("run_pipeline",), 6),
        _block(monitoring, ("configure_monitoring",), 7),
        _block(np.maximum(pageviews - 1, 0), ("pageview",), 8),
        _block(pings, ("engagement",), 9),
        _block(stale, ("engagement",), 10),
    ]
    visit = np.concatenate([b[0] for b in blocks])
    block = np.concatenate([b[1] for b in blocks])
    pos = np.concatenate([b[2] for b in blocks])
    code = np.concatenate([b[3] for b in blocks])
    order = np.lexsort((pos, block, visit))
    visit, code, block = visit[order], code[order], block[order]

    # Time: visit start plus exponential gaps (never near the 30-minute session cut).
    gap = np.minimum(rng.exponential(50.0, len(visit)), 600.0) * 1_000_000
    gap = np.where(block == 10, rng.uniform(31 * 60, 55 * 60, len(visit)) * 1_000_000, gap)  # past the cut
    in_visit = np.concatenate([[False], visit[1:] == visit[:-1]])
    gap = np.where(in_visit, gap, 0).astype(np.int64)
    cum = np.cumsum(gap)
    visit_first = np.flatnonzero(~in_visit)
    base = cum[visit_first][np.cumsum(~in_visit) - 1]
    timestamp = visits["start"][visit] + (cum - base)

    # Pages: entry page by traffic source, then browsing; custom events carry their page.
    source = rng.choice(len(SOURCES), size=n, p=SOURCE_SHARE)
    entry_kind = np.array([["app", "docs", "marketing"].index(s[6]) for s in SOURCES])[source]
    entry_tables = [_weights(_ENTRY[k]) for k in ("app", "docs", "marketing")]
    entry = np.empty(n, dtype=np.int64)
    for k, weights in enumerate(entry_tables):
        mask = entry_kind == k
        entry[mask] = rng.choice(len(PAGES), size=int(mask.sum()), p=weights)
    browse = rng.choice(len(PAGES), size=len(visit), p=_weights(_BROWSE))
    is_pageview = code == 0
    event_page = np.array([PAGES.index(EVENT_PAGE.get(name, "/")) for name in EVENT_NAMES])
    page = np.where(is_pageview, np.where(~in_visit, entry[visit], browse), event_page[code])
    # An engagement event is about the page last viewed: the page of the event before it.
    position = np.arange(len(code))
    before = np.maximum.accumulate(np.where(code != ENGAGEMENT, position, 0))
    page = np.where(code == ENGAGEMENT, page[before], page)

    first_event = ~in_visit
    src = np.where(first_event, source[visit], -1)
    plan = np.where(is_pageview | (code == ENGAGEMENT), -1, pop.plan[user[visit]])
    if inject is None:
        return _arrow_events(timestamp, user[visit], code, page, src, plan)
    ev = inject.events(Events(visit, user[visit], code, block, timestamp, page, src, plan, visits["start"]))
    return _arrow_events(ev.time, ev.user, ev.code, ev.page, ev.src, ev.plan)


def _dictionary(codes: np.ndarray, values: list[str | None]) -> pa.Array:
    """A string column from small integer codes (-1 or a None value means null)."""
    dictionary = pa.array([v if v is not None else "" for v in values], pa.string())
    null_values = np.array([v is None for v in values])
    mask = codes < 0
    if null_values.any():
        mask = mask | null_values[np.maximum(codes, 0)]
    indices = pa.array(np.maximum(codes, 0).astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, dictionary)  # DuckDB stores it as VARCHAR


def _user_ids(users: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("u", pc.cast(pa.array(users + 1), pa.string()), "")


def _arrow_events(
    timestamp: np.ndarray, users: np.ndarray, code: np.ndarray, page: np.ndarray, src: np.ndarray, plan: np.ndarray
) -> pa.Table:
    """The canonical events table of one chunk (event ids are filled in by the writer)."""
    n = len(timestamp)
    return pa.table(
        {
            "event_id": pa.nulls(n, pa.string()),  # filled by the writer with a global counter
            "timestamp": pa.array(timestamp, pa.timestamp("us")),
            "user_id": _user_ids(users),
            "event_name": _dictionary(code, list(EVENT_NAMES)),
            "session_id": pa.nulls(n, pa.string()),
            "page": _dictionary(page, PAGES),
            "referrer": _dictionary(src, [s[1] for s in SOURCES]),
            "source": _dictionary(src, [s[0] for s in SOURCES]),
            "utm_source": _dictionary(src, [s[2] for s in SOURCES]),
            "utm_medium": _dictionary(src, [s[3] for s in SOURCES]),
            "utm_campaign": _dictionary(src, [s[4] for s in SOURCES]),
            "properties": _dictionary(plan, [f'{{"plan": "{p}"}}' for p in PLANS]),
        }
    )


def _events_per_user(days: int) -> float:
    """Expected events per user over ``days``, estimated with a small fixed pilot population."""
    rng = np.random.default_rng(12345)
    pilot = _Population(rng, 2000, days)
    start_us = 0
    total = 0
    for day0 in range(0, days, 30):
        visits = _visits(rng, pilot, day0, min(day0 + 30, days), start_us)
        total += _events_of(rng, pilot, visits, start_us, days).num_rows
    return total / pilot.n


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE events (
            event_id VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL,
            event_name VARCHAR NOT NULL, session_id VARCHAR, page VARCHAR, referrer VARCHAR,
            source VARCHAR, utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR, properties VARCHAR
        );
        CREATE TABLE assignments (
            experiment_id VARCHAR NOT NULL, variant VARCHAR NOT NULL, user_id VARCHAR NOT NULL, assigned_at TIMESTAMP NOT NULL
        );
        CREATE TABLE feedback (
            user_id VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, score BIGINT NOT NULL,
            kind VARCHAR, comment VARCHAR, category VARCHAR
        );
        CREATE TABLE fawkes_meta (key VARCHAR, value VARCHAR);
        """
    )


def _assignments(pop: _Population, start_us: int) -> pa.Table:
    parts = []
    onboarded = np.flatnonzero(np.isfinite(pop.onboarding_assigned))
    variants = np.where(pop.checklist[onboarded], 1, 0)
    parts.append(
        ("onboarding_checklist", onboarded, variants, pop.onboarding_assigned[onboarded], ["control", "checklist"])
    )
    piped = np.flatnonzero(np.isfinite(pop.pipeline_assigned))
    parts.append(
        ("pipeline_templates", piped, pop.pipeline_variant[piped], pop.pipeline_assigned[piped], list(PIPELINE_SPLIT))
    )
    tables = []
    for experiment, users, codes, day, names in parts:
        tables.append(
            pa.table(
                {
                    "experiment_id": pa.array([experiment] * len(users), pa.string()),
                    "variant": _dictionary(codes, names),
                    "user_id": _user_ids(users),
                    "assigned_at": pa.array(start_us + (day * DAY_US).astype(np.int64), pa.timestamp("us")),
                }
            )
        )
    return pa.concat_tables(tables)


def _feedback(
    rng: np.random.Generator, pop: _Population, start_us: int, days: int, inject: Injector | None = None
) -> pa.Table:
    answered = np.flatnonzero(rng.random(pop.n) < 0.08)
    first = np.maximum(pop.signup[answered], 0)
    last = np.minimum(pop.churn[answered], days)
    day = first + rng.random(len(answered)) * np.maximum(last - first, 0.01)
    kind = pop.kind[answered]
    mean = np.array([9.2, 8.4, 7.2, 5.0])[kind]
    score = np.clip(np.round(rng.normal(mean, 2.0)), 0, 10).astype(np.int64)
    category = rng.integers(0, len(NPS_CATEGORIES), len(answered))
    comment = np.where(rng.random(len(answered)) < 0.4, rng.integers(0, len(NPS_COMMENTS), len(answered)), -1)
    if inject is not None:
        score = inject.feedback(start_us + (day * DAY_US).astype(np.int64), score)
    order = np.argsort(day, kind="stable")
    return pa.table(
        {
            "user_id": _user_ids(answered[order]),
            "timestamp": pa.array(start_us + (day[order] * DAY_US).astype(np.int64), pa.timestamp("us")),
            "score": pa.array(score[order]),
            "kind": pa.array(["nps"] * len(answered), pa.string()),
            "comment": _dictionary(comment[order], list(NPS_COMMENTS)),
            "category": _dictionary(category[order], list(NPS_CATEGORIES)),
        }
    )


def _progress(total: int):  # noqa: ANN202
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=" events", unit_scale=True, desc="demo data", file=sys.stderr, disable=None)


def generate(
    path: str | os.PathLike,
    events: int = 1_000_000,
    seed: int = 7,
    days: int = 180,
    end: datetime | None = None,
    progress: bool = True,
    inject: Sequence[Anomaly] = (),
) -> DemoSummary:
    """Write about ``events`` demo events (and their users, assignments, feedback) to a DuckDB file.

    ``end`` (default: now, floored to the hour) is the newest moment of the data; named time
    ranges of demo reports are anchored there, so the demo never looks empty. ``inject``
    adds known anomalies (``demo_inject.Anomaly``) and records them in ``fawkes_meta``.
    """
    if events < 1000:
        raise ParameterError("events", f"{events} is too few for meaningful demo data", ">= 1000")
    if days < 14:
        raise ParameterError("days", f"{days} is too short", ">= 14")
    end = (end or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    start_us = int((start - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()) * 1_000_000
    anomalies = check(inject, start, end)

    users = max(200, round(events / _events_per_user(days)))
    rng = np.random.default_rng(seed)
    pop = _Population(rng, users, days)
    injector = None
    if anomalies:
        injector = Injector(
            anomalies, seed, users, start_us, end, EVENT_NAMES, PAGES, EVENT_PAGE, pop.plan, "engagement", 10
        )
    chunk_days = max(1, min(30, round(days * CHUNK_EVENTS / max(events, 1))))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    # DuckDB would otherwise keep much of what it was given in memory until the end; capping
    # it makes it write to disk as it goes, so memory stays flat whatever the event count.
    con = duckdb.connect(str(partial), config={"memory_limit": "128MB"})
    written = 0
    try:
        _create_tables(con)
        bar = _progress(events) if progress else None
        end_us = start_us + days * DAY_US
        for day0 in range(0, days, chunk_days):
            visits = _visits(rng, pop, day0, min(day0 + chunk_days, days), start_us)
            table = _events_of(rng, pop, visits, start_us, days, injector)
            keep = pc.less(table["timestamp"], pa.scalar(end_us, pa.timestamp("us")))
            table = table.filter(keep)
            table = table.sort_by("timestamp")
            ids = pc.binary_join_element_wise(
                "e", pc.cast(pa.array(np.arange(written + 1, written + 1 + table.num_rows)), pa.string()), ""
            )
            table = table.set_column(0, "event_id", ids)
            con.register("chunk", table)
            con.execute("INSERT INTO events SELECT * FROM chunk")
            con.unregister("chunk")
            written += table.num_rows
            if written // CHECKPOINT_EVENTS > (written - table.num_rows) // CHECKPOINT_EVENTS:
                con.execute("CHECKPOINT")  # flush to the file so memory does not grow with the data
            if bar is not None:
                bar.update(table.num_rows)
        if bar is not None:
            bar.close()
        assignments = _assignments(pop, start_us)
        feedback = _feedback(rng, pop, start_us, days, injector)
        con.register("a", assignments)
        con.execute("INSERT INTO assignments SELECT * FROM a")
        con.register("f", feedback)
        con.execute("INSERT INTO feedback SELECT * FROM f")
        meta = {
            "demo": "true",
            "seed": str(seed),
            "events": str(written),
            "users": str(users),
            "days": str(days),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "onboarding_checklist_true_lift": str(ONBOARDING_LIFT),
            "pipeline_templates_true_lift": str(GALLERY_LIFT),
        }
        if anomalies:
            meta["anomalies"] = meta_value(anomalies)
        con.executemany("INSERT INTO fawkes_meta VALUES (?, ?)", list(meta.items()))
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        partial.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(partial, path)
    return DemoSummary(path, written, users, assignments.num_rows, feedback.num_rows, start, end, seed)
