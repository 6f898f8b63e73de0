"""Run what is due: per-schedule file locks, a global concurrency limit, retries, delivery.

``Scheduler.run_once()`` runs every due slot and returns (for ``schedule --once`` under
system cron or a Kubernetes CronJob); ``Scheduler.serve()`` loops until SIGTERM. Both may run
in several processes at once against the same state folder: a slot runs under the
schedule's file lock, and the slot is re-checked against the state file after the lock is
taken, so two schedulers never run the same slot.

State per schedule (``<state_dir>/<name>.state.json``): the last slot that completed, the
progress of the current slot (reports already delivered, and the finished run of each report,
recorded *before* its delivery starts) and deliveries waiting for a retry. An interrupted
slot is not marked done, so it runs again on the next start.

Exactly once per slot: a slot's runs are identified by schedule, report and slot, not by a
new run id. A scheduler killed after a report finished (even in the middle of an SMTP
transaction) resumes that run and its delivery state when it restarts; it never recomputes
the report, and the idempotency keys and Message-IDs of its emails stay the same. A message
whose outcome is unknown is ``unconfirmed`` and only an operator resends it
(``fawkes-analytics send RUN --unconfirmed``).

Jobs are reports, or ``fawkes-analytics`` sub-commands (``command:`` in the schedule file),
under the same locks, timeouts, retries, failure emails and history. After each slot the
schedule's retention policy prunes old runs (retention.py), never one a delivery still needs.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from .. import catalog, retention
from ..delivery import deliver
from ..delivery.state import DeliveryLedger, read_json, write_json_atomic
from ..records import Attempt, PendingDelivery, Record
from .config import Schedule
from .due import due_slot, next_slot
from .isolation import call_runner, run_command, run_in_process

log = logging.getLogger(__name__)

MISFIRE_GRACE = timedelta(minutes=5)
DELIVERY_RETRY_DELAYS = (60.0, 300.0, 900.0, 3600.0, 3 * 3600.0)
RETRY_ON = ("failed", "timed_out")
STOPPED = ("interrupted", "cancelled")  # the scheduler was asked to stop: the slot runs again later


class Clock(Protocol):
    """Time source of the scheduler; tests inject a fake one."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` or until ``stop`` is set; True when stopped."""
        ...


class SystemClock:
    """Wall-clock time (aware UTC) and an interruptible sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


@dataclass
class SlotResult(Record):
    """What happened to one schedule slot in this process."""

    schedule: str
    slot: str
    outcome: str  # ran | locked | already_done | missed | interrupted
    attempts: list[Attempt] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)


def _default_runner(report: str, parameters: dict | None = None, **kwargs: Any) -> Any:
    from ..runs import run_report  # imported late: the run layer pulls in papermill

    return run_report(report, parameters, **kwargs)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _when(value: str | None) -> datetime:
    """A retry time from the state file; a missing one is due now (the epoch)."""
    return datetime.fromisoformat(value) if value else datetime.min.replace(tzinfo=UTC)


def slot_key(schedule: str, job: str, slot: str) -> str:
    """What identifies one job of one slot (idempotency keys and Message-IDs derive from it)."""
    return f"{schedule}|{job}|{slot}"


def pending_run_dirs(state_dir: Path) -> set[Path]:
    """Run folders (and stand-in records) that deliveries of any schedule still need: pending
    retries and the runs of slots in progress. Retention never removes them."""
    out: set[Path] = set()
    for path in Path(state_dir).glob("*.state.json"):
        try:
            state = read_json(path, {}) or {}
        except (OSError, ValueError):
            continue
        progress = [*(state.get("slot_progress") or {}).get("runs", {}).values()]
        progress += [*(state.get("manual_progress") or {}).get("runs", {}).values()]
        for item in [*state.get("pending_deliveries", []), *progress]:
            for key in ("run_dir", "record_path"):
                if item.get(key):
                    out.add(Path(item[key]))
    return out


class Scheduler:
    """Decides what is due and runs it. See the module docstring for the guarantees."""

    def __init__(
        self,
        schedules: Iterable[Schedule],
        *,
        state_dir: Path,
        reports_dir: Path | None = None,
        runner: Callable[..., Any] | None = None,
        clock: Clock | None = None,
        max_concurrent: int = 2,
        isolation: str = "process",
        watchdog_margin: float = 60.0,
        grace: float = 300.0,
        env: dict[str, str] | None = None,
        smtp_settings: Any = None,
        poll_interval: float = 30.0,
    ) -> None:
        if isolation not in ("process", "inline"):
            raise ValueError(f"isolation must be 'process' or 'inline', got {isolation!r}")
        self.schedules = list(schedules)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.reports_dir = Path(reports_dir) if reports_dir else None
        self.runner = runner or _default_runner
        self.clock = clock or SystemClock()
        self.max_concurrent = max(1, int(max_concurrent))
        self.isolation = isolation
        self.watchdog_margin = watchdog_margin
        self.grace = grace
        self.env = env
        self.smtp_settings = smtp_settings
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._interrupt = threading.Event()

    # ----- state -------------------------------------------------------------------------
    def state_path(self, schedule: Schedule) -> Path:
        return self.state_dir / f"{schedule.name}.state.json"

    def read_state(self, schedule: Schedule) -> dict:
        return read_json(self.state_path(schedule), {}) or {}

    def _write_state(self, schedule: Schedule, state: dict) -> None:
        write_json_atomic(self.state_path(schedule), state)

    def _lock(self, schedule: Schedule) -> FileLock:
        # A new lock object per use: flock conflicts between objects, threads and processes alike.
        return FileLock(str(self.state_dir / f"{schedule.name}.lock"), thread_local=False)

    # ----- what is due -------------------------------------------------------------------
    def due(self, now: datetime | None = None) -> list[tuple[Schedule, datetime]]:
        """Schedules with a slot to run at ``now`` (by the state files; locks not taken)."""
        now = now or self.clock.now()
        out = []
        for schedule in self.schedules:
            slot = due_slot(schedule, now, _parse(self.read_state(schedule).get("last_slot")))
            if slot is not None:
                out.append((schedule, slot))
        return out

    def next_wake(self, now: datetime) -> datetime:
        """The earliest next slot or delivery retry, capped at ``poll_interval`` from now."""
        wake = now + timedelta(seconds=self.poll_interval)
        for schedule in self.schedules:
            if schedule.enabled:
                wake = min(wake, next_slot(schedule, now))
            for item in self.read_state(schedule).get("pending_deliveries", []):
                wake = min(wake, max(now, _when(item.get("next_at"))))
        return wake

    # ----- running -----------------------------------------------------------------------
    def run_slot(self, schedule: Schedule, slot: datetime, *, manual: bool = False) -> SlotResult:
        """Run every job of one slot under the schedule's lock, then deliver.

        ``manual`` (``schedule --run-now``): run now whatever the state says, without marking
        the cron slot done.
        """
        if self._stop.is_set():
            return SlotResult(schedule.name, _iso(slot), "interrupted")
        lock = self._lock(schedule)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("%s: slot %s is being run by another scheduler", schedule.name, _iso(slot))
            return SlotResult(schedule.name, _iso(slot), "locked")
        try:
            state = self.read_state(schedule)
            last = _parse(state.get("last_slot"))
            if not manual and last is not None and slot <= last:
                return SlotResult(schedule.name, _iso(slot), "already_done")
            now = self.clock.now()
            if not manual and not schedule.catchup and last is not None and now - slot > MISFIRE_GRACE:
                log.warning("%s: slot %s missed and catchup is off; skipping it", schedule.name, _iso(slot))
                state.update(last_slot=_iso(slot), last_outcome="missed", updated_at=_iso(now))
                self._write_state(schedule, state)
                return SlotResult(schedule.name, _iso(slot), "missed")
            result = self._run_jobs(schedule, slot, state, manual)
            if result.outcome == "ran" and not manual:
                state.update(
                    last_slot=_iso(slot), last_outcome=result.attempts[-1].status if result.attempts else "ran"
                )
            if result.outcome == "ran":
                state.pop("slot_progress" if not manual else "manual_progress", None)
            state["updated_at"] = _iso(self.clock.now())
            self._write_state(schedule, state)
            if result.outcome == "ran":
                self._prune(schedule)
            return result
        finally:
            lock.release()

    def _run_jobs(self, schedule: Schedule, slot: datetime, state: dict, manual: bool) -> SlotResult:
        """The jobs of a slot, resuming a slot that an earlier process left half-done."""
        key = "manual_progress" if manual else "slot_progress"
        progress = state.get(key) or {}
        if progress.get("slot") != _iso(slot):
            progress = {"slot": _iso(slot), "done": [], "runs": {}}
        progress.setdefault("runs", {})
        done = set(progress.get("done", []))
        result = SlotResult(schedule.name, _iso(slot), "ran")
        for job in schedule.jobs:
            if job in done:
                continue
            if self._stop.is_set():
                result.outcome = "interrupted"
                break
            final = progress["runs"].get(job)
            if final is not None:
                log.info(
                    "%s: resuming %s of slot %s (run %s, %s): delivering, not recomputing",
                    schedule.name,
                    job,
                    _iso(slot),
                    Path(final.get("run_dir") or final["record_path"]).name,
                    final["status"],
                )
            else:
                attempt = self._run_with_retries(schedule, job, slot, result)
                if attempt.status in STOPPED:
                    result.outcome = "interrupted"
                    break
                final = {k: getattr(attempt, k) for k in ("run_dir", "record_path", "status", "error")}
                progress["runs"][job] = final
                state[key] = progress
                self._write_state(schedule, state)  # the run is known before any email goes out
            self._deliver(schedule, job, slot, final, state, result)
            done.add(job)
            progress["done"] = sorted(done)
            state[key] = progress
            self._write_state(schedule, state)
        return result

    def _prune(self, schedule: Schedule) -> None:
        """Apply retention after a slot: the schedule's own policy to its runs, else the report's."""
        protect = pending_run_dirs(self.state_dir)
        try:
            for job in schedule.reports:
                if self.reports_dir is None:
                    break
                select: Callable[[Mapping[str, Any]], bool]
                if schedule.retention is not None:
                    policy = schedule.retention

                    def select(record: Mapping[str, Any], name: str = schedule.name) -> bool:
                        return (record.get("schedule") or {}).get("name") == name
                else:
                    policy, select = catalog.report_retention(job), retention.not_under_a_schedule_policy
                for removed in retention.prune(self.reports_dir / job, policy, protect=protect, select=select):
                    log.info("%s: pruned %s (%s)", schedule.name, removed, policy.describe())
            self._prune_stand_ins(schedule, schedule.retention or retention.DEFAULT_POLICY)
        except Exception:  # pruning must never take the scheduler down
            log.exception("%s: pruning old runs failed", schedule.name)

    def _prune_stand_ins(self, schedule: Schedule, policy: retention.RetentionPolicy) -> None:
        """Records and logs of attempts without a run folder (commands, killed runs) are pruned too."""
        records = sorted(
            (self.state_dir / "runs").glob(f"{schedule.name}--*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        pending = pending_run_dirs(self.state_dir)
        now = time.time()  # file times are wall-clock times
        for rank, path in enumerate(records):
            old = policy.days is not None and now - path.stat().st_mtime > policy.days * 86400
            if (policy.runs is not None and rank >= policy.runs or old) and path not in pending:
                path.unlink(missing_ok=True)
                path.with_suffix(".log").unlink(missing_ok=True)

    def _attempt(self, schedule: Schedule, job: str, slot: datetime, attempt_no: int) -> dict:
        if schedule.command:
            argv = [sys.executable, "-m", "fawkes_analytics.cli", schedule.command, *schedule.args]
            stem = self._record_stem(schedule.name, job, _iso(slot), attempt_no)
            return run_command(
                argv,
                timeout=schedule.timeout,
                interrupt=self._interrupt,
                log_path=self.state_dir / "runs" / f"{stem}.log",
            )
        kwargs: dict[str, Any] = {
            "timeout": schedule.timeout,
            "cell_timeout": schedule.cell_timeout,
            "outputs": schedule.outputs,
        }
        if self.reports_dir is not None:
            kwargs["reports_dir"] = self.reports_dir
        parameters = dict(schedule.parameters)
        if self.isolation == "inline":
            return call_runner(self.runner, job, parameters, kwargs, self._interrupt)
        deadline = schedule.timeout + self.watchdog_margin if schedule.timeout else None
        return run_in_process(self.runner, job, parameters, kwargs, hard_deadline=deadline, interrupt=self._interrupt)

    def _run_with_retries(self, schedule: Schedule, report: str, slot: datetime, result: SlotResult) -> Attempt:
        attempt_no = 0
        while True:
            attempt_no += 1
            started = self.clock.now()
            outcome = self._attempt(schedule, report, slot, attempt_no)
            attempt = Attempt.from_dict(
                {
                    "started_at": _iso(started),
                    **outcome,
                    "schedule": schedule.name,
                    "report": report,
                    "slot": _iso(slot),
                    "attempt": attempt_no,
                }
            )
            self._annotate(schedule, attempt)
            result.attempts.append(attempt)
            status = attempt.status
            log.info(
                "%s: %s attempt %d %s%s",
                schedule.name,
                report,
                attempt_no,
                status,
                f": {attempt.error}" if attempt.error else "",
            )
            if status not in RETRY_ON or not attempt.retryable:
                return attempt
            if attempt_no > schedule.retries:
                return attempt
            delay = schedule.retry_backoff * 2 ** (attempt_no - 1)
            log.info(
                "%s: retrying %s in %.0f s (attempt %d of %d)",
                schedule.name,
                report,
                delay,
                attempt_no + 1,
                schedule.retries + 1,
            )
            if self.clock.sleep(delay, self._stop):
                return dataclasses.replace(
                    attempt, status="interrupted", error="scheduler stopped during retry backoff"
                )

    def _annotate(self, schedule: Schedule, attempt: Attempt) -> None:
        """Write the scheduling facts into the run record (or a stand-in when no folder exists)."""
        info = {"name": schedule.name, "slot": attempt.slot, "attempt": attempt.attempt}
        if schedule.retention is not None:
            info["retention"] = schedule.retention.to_dict()
        if attempt.run_dir and Path(attempt.run_dir).is_dir():
            attempt.record_path = str(Path(attempt.run_dir) / "run.json")
            DeliveryLedger(Path(attempt.record_path)).update(lambda rec: rec.__setitem__("schedule", info))
            return
        path = (
            self.state_dir
            / "runs"
            / (self._record_stem(schedule.name, attempt.report, attempt.slot, attempt.attempt) + ".json")
        )
        attempt.record_path = str(path)
        record = {k: v for k, v in attempt.to_dict().items() if k not in ("record_path", "retryable")}
        record.update(schedule=info, finished_at=_iso(self.clock.now()), run_id=path.stem)
        write_json_atomic(path, record)

    @staticmethod
    def _record_stem(schedule: str, job: str, slot: str, attempt: int) -> str:
        slot_tag = slot.replace(":", "").replace("+0000", "Z")
        return f"{schedule}--{job.replace(':', '-')}--{slot_tag}--{attempt}"

    def _deliver(
        self, schedule: Schedule, report: str, slot: datetime, final: dict, state: dict, result: SlotResult
    ) -> None:
        item = PendingDelivery(
            report=report,
            run_dir=final.get("run_dir"),
            record_path=final["record_path"],
            status=final["status"],
            error=final.get("error"),
            slot=_iso(slot),
            run_key=slot_key(schedule.name, report, _iso(slot)),
        )
        self._deliver_item(schedule, item, state, result)

    def _deliver_item(self, schedule: Schedule, item: PendingDelivery, state: dict, result: SlotResult | None) -> None:
        run_dir = Path(item.run_dir) if item.run_dir else None
        try:
            outcome = deliver(
                schedule,
                report=item.report,
                run_dir=run_dir if run_dir and run_dir.is_dir() else None,
                status=item.status,
                error=item.error,
                record_path=Path(item.record_path),
                run_key=item.run_key or (None if run_dir and run_dir.is_dir() else Path(item.record_path).stem),
                slot=_parse(item.slot),
                settings=self.smtp_settings,
                env=self.env,
            )
        except Exception:  # delivery must never take the scheduler down; the report is kept
            log.exception("%s: delivery for %s failed unexpectedly", schedule.name, item.report)
            return
        if result is not None:
            result.deliveries.extend(outcome.entries)
        pending = [p for p in state.get("pending_deliveries", []) if p["record_path"] != item.record_path]
        if outcome.needs_retry:
            item.attempts += 1
            if item.attempts <= len(DELIVERY_RETRY_DELAYS):
                delay = DELIVERY_RETRY_DELAYS[item.attempts - 1]
                item.next_at = _iso(self.clock.now() + timedelta(seconds=delay))
                pending.append(item.to_dict())
                log.warning("%s: delivery for %s failed; retrying at %s", schedule.name, item.report, item.next_at)
            else:
                log.error("%s: delivery for %s failed %d times; giving up", schedule.name, item.report, item.attempts)
        state["pending_deliveries"] = pending

    def retry_deliveries(self, now: datetime | None = None) -> int:
        """Retry deliveries whose back-off has passed; returns how many were retried."""
        now = now or self.clock.now()
        count = 0
        for schedule in self.schedules:
            if not any(_when(p.get("next_at")) <= now for p in self.read_state(schedule).get("pending_deliveries", [])):
                continue
            lock = self._lock(schedule)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                state = self.read_state(schedule)
                for raw in list(state.get("pending_deliveries", [])):
                    item = PendingDelivery.from_dict(raw)
                    if _when(item.next_at) <= now:
                        self._deliver_item(schedule, item, state, None)
                        count += 1
                self._write_state(schedule, state)
            finally:
                lock.release()
        return count

    # ----- entry points ------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> list[SlotResult]:
        """Run every due slot (at most ``max_concurrent`` at a time) and pending delivery retries."""
        now = now or self.clock.now()
        self.retry_deliveries(now)
        due = self.due(now)
        if not due:
            return []
        with ThreadPoolExecutor(max_workers=self.max_concurrent, thread_name_prefix="fawkes-sched") as pool:
            futures = [pool.submit(self.run_slot, schedule, slot) for schedule, slot in due]
            self._wait_with_grace(futures)
        for future in futures:
            if future.done() and future.exception() is not None:
                log.error("a scheduled slot failed unexpectedly", exc_info=future.exception())
        return [f.result() for f in futures if f.done() and f.exception() is None]

    def run_now(self, schedule: Schedule) -> SlotResult:
        """Run ``schedule`` immediately (``schedule --run-now``), outside its cron slots."""
        slot = self.clock.now().replace(microsecond=0)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fawkes-sched") as pool:
            future = pool.submit(self.run_slot, schedule, slot, manual=True)
            self._wait_with_grace([future])
        return future.result()

    def serve(self) -> int:
        """Loop until :meth:`request_stop` (SIGTERM/SIGINT): start due slots, sleep until the next."""
        in_flight: dict[str, Future] = {}
        with ThreadPoolExecutor(max_workers=self.max_concurrent, thread_name_prefix="fawkes-sched") as pool:
            while not self._stop.is_set():
                now = self.clock.now()
                in_flight = {name: f for name, f in in_flight.items() if not f.done()}
                for schedule, slot in self.due(now):
                    if schedule.name not in in_flight:
                        in_flight[schedule.name] = pool.submit(self.run_slot, schedule, slot)
                self.retry_deliveries(now)
                delay = max(0.5, (self.next_wake(now) - now).total_seconds())
                self.clock.sleep(min(delay, self.poll_interval), self._stop)
            self._wait_with_grace(list(in_flight.values()))
        return 0

    def _wait_with_grace(self, futures: list[Future]) -> None:
        while True:
            _, not_done = wait(futures, timeout=0.2)
            if not not_done:
                return
            if self._stop.is_set():
                break
        log.info("stopping: waiting up to %.0f s for %d run(s) to finish", self.grace, len(not_done))
        _, not_done = wait(not_done, timeout=self.grace)
        if not_done:
            log.warning("grace period over: interrupting %d run(s)", len(not_done))
            self._interrupt.set()
            wait(not_done)

    def request_stop(self) -> None:
        """Stop starting runs; running ones get ``grace`` seconds, then are interrupted."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT request a graceful stop (main thread only)."""

        def handler(signum, _frame) -> None:
            log.info("received %s: finishing current runs (grace %.0f s)", signal.Signals(signum).name, self.grace)
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
