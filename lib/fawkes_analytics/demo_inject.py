"""Known anomalies for the demo data: spikes, drops and level shifts at recorded dates.

``demo.generate(..., inject=[Anomaly("drop", "visits", date(2026, 11, 24), 0.3)])`` writes
the same data as without ``inject`` except on the anomaly's days, so a benchmark can compare
the two and knows exactly what changed. Everything here runs *after* the generator's random
draws and takes its randomness from its own streams (seeded by the demo seed, the anomaly's
position in the list and the day), so the generator's stream, and with it every other day,
is untouched; with no anomaly nothing here runs and the output is byte for byte the same.

An anomaly changes one KPI's daily value by about ``size`` (relative: 0.3 is 30%) on one UTC
day (``spike`` up, ``drop`` down) or on every day from ``day`` to the end of the data
(``level_shift``, ``size`` signed). How, per metric (a visit belongs to the day it starts):

- ``visitors``, ``visits``, ``pageviews`` (traffic): a ``size`` share of the day's users
  are copied as new users with the same visits (up), or lose all their visits (down); the
  three KPIs move together, everything else stays as it was on average;
- ``bounce_rate``: up, a share of non-bounced visits that start with a pageview keep only that
  pageview (a broken page: their other events are lost, so pageviews, visit duration and
  adoption fall a little too); down, a ``size`` share of bounced visits get a second pageview
  20 seconds after the first;
- ``visit_duration``: the time between the events of each visit is stretched (or shrunk) by
  ``1 + size``; counts do not change;
- ``conversion.<funnel>`` (``onboarding``, ``deployment``, ``service_creation``): down, a
  ``size`` share of the visits that completed the funnel lose their last step; up, a share of
  the started, unfinished visits get their missing steps (and lose a ``deploy_failed``), so
  that the completed share rises by ``size``;
- ``adoption.<feature>`` (the catalog's five features): down, a ``size`` share of the day's
  users of the feature lose its events; up, active users who did not use it (in a visit that
  did not bounce, so the bounce rate stays) get one such event, enough to raise the adoption
  rate by ``size``;
- ``nps``: NPS has no useful relative change around 0, so ``size`` is in NPS points / 100
  (0.3 is 30 points): non-promoters answer 10 (up) or promoters answer 0 (down) until the
  day's NPS has moved that far or no answer is left to change.

Side effects on other KPIs (a broken page also loses events) are real consequences and are
measured, not hidden: ``bench/bench_anomalies.py`` compares every KPI of every day with the
clean data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

from .errors import ParameterError

KINDS = ("spike", "drop", "level_shift")
TRAFFIC = ("visitors", "visits", "pageviews")
FUNNEL_EVENTS = {
    "onboarding": ("sign_up", "profile_setup", "first_template", "first_deployment"),
    "deployment": ("deploy_start", "deploy_configure", "build_complete", "deploy_success"),
    "service_creation": ("select_template", "configure_service", "review_and_create", "service_active"),
}
FEATURE_EVENTS = {
    "deploy_application": "deploy_start",
    "create_service": "review_and_create",
    "view_documentation": "view_documentation",
    "run_pipeline": "run_pipeline",
    "configure_monitoring": "configure_monitoring",
}
METRICS = (
    *TRAFFIC,
    "bounce_rate",
    "visit_duration",
    *(f"conversion.{f}" for f in FUNNEL_EVENTS),
    *(f"adoption.{f}" for f in FEATURE_EVENTS),
    "nps",
)
DAY_US = 86_400_000_000
STEP_GAP_US = 20_000_000  # added events follow the visit's event before them by 20 s


@dataclass(frozen=True)
class Anomaly:
    """One injected anomaly: ``kind`` of ``metric`` on UTC ``day`` by ``size`` (relative).

    ``spike`` and ``drop`` take a positive ``size`` and last one day; ``level_shift`` takes a
    signed ``size`` and lasts from ``day`` to the end of the data. For ``nps`` the size is in
    NPS points / 100.
    """

    kind: str
    metric: str
    day: date
    size: float

    @property
    def factor(self) -> float:
        """What the metric is multiplied by: 1 + size up, 1 - size down."""
        return 1.0 - self.size if self.kind == "drop" else 1.0 + self.size

    def days(self, last: date) -> list[date]:
        """The days the anomaly covers, up to and including ``last``."""
        if self.kind != "level_shift":
            return [self.day]
        return [self.day + timedelta(days=i) for i in range((last - self.day).days + 1)]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Anomaly:
        return cls(str(raw["kind"]), str(raw["metric"]), date.fromisoformat(str(raw["day"])), float(raw["size"]))


def check(anomalies: Iterable[Anomaly], start: datetime, end: datetime) -> list[Anomaly]:
    """Validate ``anomalies`` for data covering ``[start, end)``; errors name the anomaly and field."""
    checked = []
    first_day = (start + timedelta(days=1)).date()  # the first whole UTC day
    last_day = (end - timedelta(days=1)).date()  # the last whole UTC day
    for i, a in enumerate(anomalies):
        where = f"inject[{i}]"
        if not isinstance(a, Anomaly):
            raise ParameterError(where, f"{a!r} is not an Anomaly", "Anomaly(kind, metric, day, size)")
        if a.kind not in KINDS:
            raise ParameterError(f"{where}.kind", f"unknown kind {a.kind!r}", list(KINDS))
        if a.metric not in METRICS:
            raise ParameterError(f"{where}.metric", f"unknown metric {a.metric!r}", list(METRICS))
        if not first_day <= a.day <= last_day:
            raise ParameterError(
                f"{where}.day", f"{a.day} is not a whole day of the data", f"{first_day} to {last_day} (UTC)"
            )
        if a.kind in ("spike", "drop") and not a.size > 0:
            raise ParameterError(f"{where}.size", f"{a.size} is not positive", "> 0 (the kind gives the direction)")
        if a.kind == "level_shift" and a.size == 0:
            raise ParameterError(f"{where}.size", "0 is no shift", "a signed relative change, e.g. -0.3")
        if not 0 < a.factor <= 2 and a.metric != "nps":
            raise ParameterError(f"{where}.size", f"{a.size} moves the metric out of range", "between -1 and 1")
        checked.append(a)
    return checked


def meta_value(anomalies: Sequence[Anomaly]) -> str:
    """The anomalies as recorded in the demo's ``fawkes_meta`` table (key ``anomalies``)."""
    return json.dumps([a.to_dict() for a in anomalies])


def read_meta(value: str | None) -> list[Anomaly]:
    """The anomalies recorded by ``meta_value`` (none when the key is missing)."""
    return [Anomaly.from_dict(raw) for raw in json.loads(value)] if value else []


@dataclass
class Events:
    """One chunk of demo events as parallel arrays (plus each event's visit and its start)."""

    visit: np.ndarray
    user: np.ndarray
    code: np.ndarray
    block: np.ndarray
    time: np.ndarray
    page: np.ndarray
    src: np.ndarray
    plan: np.ndarray
    visit_start: np.ndarray  # per visit, microseconds

    def take(self, index: np.ndarray) -> Events:
        return Events(
            self.visit[index],
            self.user[index],
            self.code[index],
            self.block[index],
            self.time[index],
            self.page[index],
            self.src[index],
            self.plan[index],
            self.visit_start,
        )

    def extend(self, other: Events) -> Events:
        joined = {n: np.concatenate([getattr(self, n), getattr(other, n)]) for n in _EVENT_FIELDS}
        return Events(**joined, visit_start=self.visit_start)


_EVENT_FIELDS = ("visit", "user", "code", "block", "time", "page", "src", "plan")


class Injector:
    """Applies a list of anomalies to the demo's event chunks and its feedback table."""

    def __init__(
        self,
        anomalies: Sequence[Anomaly],
        seed: int,
        users: int,
        start_us: int,
        end: datetime,
        names: Sequence[str],
        pages: Sequence[str],
        event_page: dict[str, str],
        plans: np.ndarray,
        engagement: str,
        stale_block: int,
    ) -> None:
        self.anomalies = list(anomalies)
        self.seed = seed
        self.users = users
        self.start_us = start_us
        self.last_day = (end - timedelta(microseconds=1)).date()
        self.names = list(names)
        self.pages = list(pages)
        self.event_page = event_page
        self.plans = plans
        self.engagement = self.names.index(engagement)
        self.pageview = self.names.index("pageview")
        self.stale_block = stale_block

    def _code(self, name: str) -> int:
        return self.names.index(name)

    def _page_of(self, name: str) -> int:
        return self.pages.index(self.event_page.get(name, "/"))

    def _rng(self, k: int, day: date, part: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 7919, k, day.toordinal(), part])

    def _windows(self, a: Anomaly) -> list[tuple[date, int, int]]:
        out = []
        for day in a.days(self.last_day):
            d0 = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) * 1_000_000
            out.append((day, d0, d0 + DAY_US))
        return out

    def events(self, ev: Events) -> Events:
        """The chunk with every anomaly applied to the visits that start on its days."""
        if len(ev.visit_start) == 0:
            return ev
        lo, hi = int(ev.visit_start.min()), int(ev.visit_start.max())
        for k, a in enumerate(self.anomalies):
            if a.metric == "nps":
                continue
            for day, d0, d1 in self._windows(a):
                if d1 <= lo or d0 > hi:
                    continue
                in_day = (ev.visit_start >= d0) & (ev.visit_start < d1)
                if not in_day.any():
                    continue
                ev = self._apply(a, k, day, lo, ev, in_day)  # lo: which chunk holds this part of the day
        return ev

    def _apply(self, a: Anomaly, k: int, day: date, part: int, ev: Events, in_day: np.ndarray) -> Events:
        rng = self._rng(k, day, part)
        mine = in_day[ev.visit]  # events of visits that start on the day
        if a.metric in TRAFFIC:
            return self._traffic(a, k, day, ev, mine)
        if a.metric == "bounce_rate":
            return self._bounce(a, rng, ev, mine)
        if a.metric == "visit_duration":
            return self._duration(a, ev, mine)
        family, name = a.metric.split(".", 1)
        if family == "conversion":
            return self._conversion(a, FUNNEL_EVENTS[name], rng, ev, mine)
        return self._adoption(a, self._code(FEATURE_EVENTS[name]), rng, ev, mine)

    def _user_draw(self, k: int, day: date) -> np.ndarray:
        """One uniform number per user for anomaly ``k`` on ``day`` (the same in every chunk)."""
        return self._rng(k, day, 1).random(self.users)

    def _traffic(self, a: Anomaly, k: int, day: date, ev: Events, mine: np.ndarray) -> Events:
        chosen = self._user_draw(k, day)[ev.user % self.users] < abs(a.factor - 1.0)
        hit = mine & chosen
        if a.factor < 1:
            return ev.take(np.flatnonzero(~hit))
        clones = ev.take(np.flatnonzero(hit))
        clones.user = clones.user + self.users * (k + 1)  # new people, the same id on every day
        clones.visit = clones.visit + len(ev.visit_start)  # and visits of their own
        both = ev.extend(clones)
        both.visit_start = np.concatenate([ev.visit_start, ev.visit_start])
        return both

    def _visit_stats(self, ev: Events, mine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per visit: session events (not engagement), whether its first event is a pageview, first index."""
        n_visits = len(ev.visit_start)
        session = np.bincount(ev.visit[ev.code != self.engagement], minlength=n_visits)
        first = np.full(n_visits, -1)
        order = np.lexsort((ev.time, ev.visit))
        starts = order[np.concatenate([[True], ev.visit[order][1:] != ev.visit[order][:-1]])]
        first[ev.visit[starts]] = starts
        first_is_pageview = np.zeros(n_visits, bool)
        first_is_pageview[ev.visit[starts]] = ev.code[starts] == self.pageview
        return session, first_is_pageview, first

    def _bounce(self, a: Anomaly, rng: np.random.Generator, ev: Events, mine: np.ndarray) -> Events:
        session, first_pv, first = self._visit_stats(ev, mine)
        day_visits = np.zeros(len(ev.visit_start), bool)
        day_visits[ev.visit[mine]] = True
        bounced = day_visits & (session == 1) & first_pv
        live = day_visits & (session > 0)
        b = bounced.sum() / max(live.sum(), 1)
        draw = rng.random(len(ev.visit_start))
        if a.factor > 1:  # broken page: some visits stop after their first pageview
            q = min(1.0, b * (a.factor - 1) / max(1 - b, 1e-9))
            cut = live & ~bounced & first_pv & (draw < q)
            keep = ~cut[ev.visit] | (np.arange(len(ev.visit)) == first[ev.visit])
            return ev.take(np.flatnonzero(keep))
        fixed = np.flatnonzero(bounced & (draw < 1 - a.factor))
        extra = ev.take(first[fixed])
        extra.time = extra.time + STEP_GAP_US
        extra.page = np.full(len(fixed), self.pages.index("/dashboard"))
        extra.src = np.full(len(fixed), -1)
        extra.block = np.full(len(fixed), 8)
        return ev.extend(extra)

    def _duration(self, a: Anomaly, ev: Events, mine: np.ndarray) -> Events:
        start = ev.visit_start[ev.visit]
        regular = mine & (ev.block != self.stale_block)
        new_time = np.where(regular, start + ((ev.time - start) * a.factor).astype(np.int64), ev.time)
        # A stale engagement ping (past the session cut) keeps its gap to the event before it.
        stale = np.flatnonzero(mine & (ev.block == self.stale_block))
        if len(stale):
            order = np.lexsort((ev.time, ev.visit))
            rank = np.empty(len(order), np.int64)
            rank[order] = np.arange(len(order))
            before = order[rank[stale] - 1]
            new_time[stale] = ev.time[stale] + (new_time[before] - ev.time[before])
        ev.time = new_time
        return ev

    def _conversion(
        self, a: Anomaly, steps: tuple[str, ...], rng: np.random.Generator, ev: Events, mine: np.ndarray
    ) -> Events:
        codes = [self._code(s) for s in steps]
        n_visits = len(ev.visit_start)
        reached = np.zeros(n_visits, np.int64)
        last_time = np.zeros(n_visits, np.int64)
        for code in codes:
            hits = mine & (ev.code == code)
            reached += np.bincount(ev.visit[hits], minlength=n_visits) > 0
            np.maximum.at(last_time, ev.visit[hits], ev.time[hits])
        started, done = reached >= 1, reached == len(codes)
        c = done.sum() / max(started.sum(), 1)
        draw = rng.random(n_visits)
        if a.factor < 1:
            undo = done & (draw < 1 - a.factor)
            drop = mine & (ev.code == codes[-1]) & undo[ev.visit]
            return ev.take(np.flatnonzero(~drop))
        q = min(1.0, c * (a.factor - 1) / max(1 - c, 1e-9))
        finish = np.flatnonzero(started & ~done & (draw < q))
        failed = self.names.index("deploy_failed") if "deploy_failed" in self.names else -1
        ev = ev.take(np.flatnonzero(~(mine & (ev.code == failed) & np.isin(ev.visit, finish))))
        added = []
        for step in range(2, len(codes) + 1):
            todo = finish[reached[finish] < step]
            if len(todo) == 0:
                continue
            added.append(
                self._new_events(
                    ev,
                    todo,
                    codes[step - 1],
                    last_time[todo] + (step - reached[todo]) * STEP_GAP_US,
                )
            )
        for extra in added:
            ev = ev.extend(extra)
        return ev

    def _new_events(self, ev: Events, visits: np.ndarray, code: int, time: np.ndarray) -> Events:
        """One custom event ``code`` per visit in ``visits`` at ``time``, by the visit's user."""
        user_of_visit = np.zeros(len(ev.visit_start), np.int64)
        user_of_visit[ev.visit] = ev.user
        users = user_of_visit[visits]
        n = len(visits)
        return Events(
            visits,
            users,
            np.full(n, code),
            np.full(n, 11),
            time.astype(np.int64),
            np.full(n, self._page_of(self.names[code])),
            np.full(n, -1),
            self.plans[users % len(self.plans)],
            ev.visit_start,
        )

    def _adoption(self, a: Anomaly, code: int, rng: np.random.Generator, ev: Events, mine: np.ndarray) -> Events:
        n_users = int(ev.user.max()) + 1
        active = np.zeros(n_users, bool)
        active[ev.user[mine]] = True
        users_of = np.zeros(n_users, bool)
        users_of[ev.user[mine & (ev.code == code)]] = True
        rate = users_of.sum() / max(active.sum(), 1)
        draw = rng.random(n_users)
        if a.factor < 1:
            lose = users_of & (draw < 1 - a.factor)
            return ev.take(np.flatnonzero(~(mine & (ev.code == code) & lose[ev.user])))
        session, first_pv, first = self._visit_stats(ev, mine)
        open_visit = np.zeros(len(ev.visit_start), bool)
        open_visit[ev.visit[mine]] = True
        open_visit &= session > 1  # visits that did not bounce
        # Each candidate user's first such visit of the day.
        candidates = np.flatnonzero(open_visit)
        visit_user = np.zeros(len(ev.visit_start), np.int64)
        visit_user[ev.visit] = ev.user
        pool_users, pick = np.unique(visit_user[candidates], return_index=True)
        pool_visits = candidates[pick]
        fresh = ~users_of[pool_users]
        pool_users, pool_visits = pool_users[fresh], pool_visits[fresh]
        wanted = rate * (a.factor - 1) * active.sum()  # new users of the feature
        q = min(1.0, wanted / max(len(pool_users), 1))
        chosen = pool_visits[draw[pool_users] < q]
        return ev.extend(self._new_events(ev, chosen, code, ev.time[first[chosen]] + STEP_GAP_US // 4))

    def feedback(self, day_us: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Scores of the feedback responses (at ``day_us``) with the NPS anomalies applied."""
        score = score.copy()
        for k, a in enumerate(self.anomalies):
            if a.metric != "nps":
                continue
            for day, d0, d1 in self._windows(a):
                idx = np.flatnonzero((day_us >= d0) & (day_us < d1))
                if len(idx) == 0:
                    continue
                rng = self._rng(k, day, 2)
                idx = idx[rng.permutation(len(idx))]
                target = _nps(score[idx]) + 100.0 * (a.size if a.kind != "drop" else -a.size)
                up = target > _nps(score[idx])
                for i in idx:
                    if (up and _nps(score[idx]) >= target) or (not up and _nps(score[idx]) <= target):
                        break
                    if up and score[i] < 9:
                        score[i] = 10
                    elif not up and score[i] >= 9:
                        score[i] = 0
        return score


def _nps(scores: np.ndarray) -> float:
    return 100.0 * (int(np.sum(scores >= 9)) - int(np.sum(scores <= 6))) / len(scores)
