"""Refreshes started through the API: a rollup refresh, then an overview run, as child processes.

``POST /api/v1/analytics/refresh`` creates a job and returns at once; the server's event loop
then runs, one after the other and each as a child process,

    fawkes-analytics refresh --wait 600 --quiet          (the incremental rollup store)
    fawkes-analytics run overview --outputs html,csv,json --timeout 1800 [-p time_range=...]

so ``latest`` of the overview moves when the run succeeds. The server only awaits the children;
no analytics code runs in its process.

Jobs are JSON files in ``<reports>/.api/refresh/`` on the shared volume, so every replica can
answer ``GET .../refresh/<job id>`` and the limits hold across replicas (a file lock guards the
check-and-create):

- one at a time: while a job is queued or running, another request gets 429
  (``refresh-running``) with ``Retry-After`` and the running job's status URL;
- at most ``FAWKES_ANALYTICS_API_REFRESH_PER_HOUR`` jobs (default 6) requested in any rolling
  hour: beyond that 429 (``rate-limited``) with ``Retry-After`` = seconds until the oldest of
  them leaves the hour. 0 turns API refreshes off (403).

A job whose server died mid-way would stay "running" forever; a job older than
``ABANDONED_AFTER_SECONDS`` that has not finished is reported as failed and no longer blocks.
The children's output goes to ``<job id>.log`` beside the job file (never into a response);
the job's ``error`` holds one redacted line of it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import atomic
from .problems import Problem
from .published import RUN_ID, RunFolders

JOBS_DIR = Path(".api") / "refresh"
REFRESH_WAIT_SECONDS = 600
RUN_TIMEOUT_SECONDS = 1800
ABANDONED_AFTER_SECONDS = REFRESH_WAIT_SECONDS + RUN_TIMEOUT_SECONDS + 300
BUSY_RETRY_AFTER_SECONDS = 30
KEEP_JOBS = 200
JOB_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
ACTIVE = ("queued", "running")
HOUR = 3600.0


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat()


@dataclass
class Step:
    """One child process of a job."""

    name: str
    command: list[str]
    status: str = "pending"  # pending | running | succeeded | failed
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None


@dataclass
class RefreshJob:
    """What a refresh job file holds (and what its status URL answers)."""

    id: str
    status: str  # queued | running | succeeded | failed
    requested_at: str
    requested_epoch: float
    time_range: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    steps: list[Step] = field(default_factory=list)
    run: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RefreshJob:
        steps = [Step(**step) for step in raw.get("steps", [])]
        return cls(**{**raw, "steps": steps})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def abandoned(self, now: float) -> bool:
        return self.status in ACTIVE and now - self.requested_epoch > ABANDONED_AFTER_SECONDS


def _commands(time_range: str | None) -> list[Step]:
    """The job's steps as the CLI commands they are (what the status shows: no server paths)."""
    run = ["fawkes-analytics", "run", "overview", "--outputs", "html,csv,json", "--timeout", str(RUN_TIMEOUT_SECONDS)]
    if time_range:
        run += ["-p", f"time_range={time_range}"]
    return [
        Step("refresh", ["fawkes-analytics", "refresh", "--wait", str(REFRESH_WAIT_SECONDS), "--quiet"]),
        Step("run overview", run),
    ]


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _child_environment() -> dict[str, str]:
    """The server's environment without the server's own secrets (API and dashboard tokens):
    the children need the source and SMTP settings, not the keys to this server."""
    own = (
        "FAWKES_ANALYTICS_API_",
        "FAWKES_ANALYTICS_METRICS_TOKEN",
        "FAWKES_ANALYTICS_VOILA_TOKEN",
        "FAWKES_ANALYTICS_VOILA_COOKIE_SECRET",
        "FAWKES_VOILA_TOKEN",  # the older names (settings.py)
        "FAWKES_VOILA_COOKIE_SECRET",
    )
    return {**{k: v for k, v in os.environ.items() if not k.startswith(own)}, "PYTHONUNBUFFERED": "1"}


def _redact(text: str) -> str:
    from ..sources.base import redact_text  # imports the source layer: only on a failure

    return redact_text(text)


class RefreshJobs:
    """Create, run and look up refresh jobs kept under ``<reports>/.api/refresh``."""

    def __init__(
        self,
        reports_dir: Path,
        per_hour: int,
        *,
        clock: Callable[[], float] = time.time,
        python: str = sys.executable,
    ) -> None:
        self.reports_dir = Path(reports_dir)
        self.folder = self.reports_dir / JOBS_DIR
        self.per_hour = per_hour
        self.clock = clock
        self.python = python

    # -- records ------------------------------------------------------------------------
    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def save(self, job: RefreshJob) -> None:
        atomic.write_text(self._path(job.id), json.dumps(job.to_dict(), indent=2) + "\n")

    def get(self, job_id: str) -> RefreshJob | None:
        """The job ``job_id`` as it stands now (an abandoned one reads as failed)."""
        if not JOB_ID.match(job_id):
            return None
        try:
            job = RefreshJob.from_dict(json.loads(self._path(job_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if job.abandoned(self.clock()):
            job.status = "failed"
            job.error = f"no result after {ABANDONED_AFTER_SECONDS // 60} minutes: the server running it stopped"
        return job

    def _jobs(self) -> list[RefreshJob]:
        jobs = []
        for path in sorted(self.folder.glob("*.json")):
            job = self.get(path.stem)
            if job is not None:
                jobs.append(job)
        return jobs

    # -- admission ----------------------------------------------------------------------
    def check(self, jobs: list[RefreshJob], now: float) -> None:
        """Raise the Problem that refuses a new job now, if any (one at a time, N per hour)."""
        if self.per_hour <= 0:
            raise Problem(
                "forbidden", "refreshes through the API are turned off (FAWKES_ANALYTICS_API_REFRESH_PER_HOUR=0)"
            )
        active = [job for job in jobs if job.status in ACTIVE]
        if active:
            raise Problem(
                "refresh-running",
                f"refresh {active[0].id} is still {active[0].status}; one refresh runs at a time",
                {"running": active[0].id},
                {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
            )
        recent = sorted(job.requested_epoch for job in jobs if now - job.requested_epoch < HOUR)
        if len(recent) >= self.per_hour:
            wait = max(1, math.ceil(recent[-self.per_hour] + HOUR - now))
            raise Problem(
                "rate-limited",
                f"{len(recent)} refreshes were requested in the last hour; at most {self.per_hour} are allowed",
                {"limit_per_hour": self.per_hour},
                {"Retry-After": str(wait)},
            )

    def submit(self, time_range: str | None) -> RefreshJob:
        """Admit a new job (or raise the refusing Problem) and save it as queued."""
        from filelock import FileLock

        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder / ".lock"), timeout=10):
            now = self.clock()
            jobs = self._jobs()
            self.check(jobs, now)
            stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            job = RefreshJob(
                id=f"{stamp}-{secrets.token_hex(4)}",
                status="queued",
                requested_at=_iso(now),
                requested_epoch=now,
                time_range=time_range,
                steps=_commands(time_range),
            )
            self.save(job)
            for old in jobs[:-KEEP_JOBS]:
                self._path(old.id).unlink(missing_ok=True)
                self._path(old.id).with_suffix(".log").unlink(missing_ok=True)
        return job

    # -- execution ----------------------------------------------------------------------
    async def execute(self, job: RefreshJob) -> RefreshJob:
        """Run the job's steps one after the other as child processes; save every transition."""
        job.status, job.started_at = "running", _iso(self.clock())
        self.save(job)
        output = ""
        for step in job.steps:
            step.status, step.started_at = "running", _iso(self.clock())
            self.save(job)
            code, output = await self._run(self._argv(step.command), job)
            step.exit_code, step.finished_at = code, _iso(self.clock())
            step.status = "succeeded" if code == 0 else "failed"
            if code != 0:
                line = await asyncio.get_running_loop().run_in_executor(None, _redact, _last_line(output))
                job.error = f"step '{step.name}' exited with code {code}" + (f": {line}" if line else "")
                break
        else:
            job.run = self._published_run(output, job)
        job.status = "succeeded" if job.error is None else "failed"
        job.finished_at = _iso(self.clock())
        self.save(job)
        return job

    def _argv(self, command: list[str]) -> list[str]:
        """The child process for a CLI command: this interpreter's CLI, runs into this reports folder."""
        argv = [self.python, "-m", "fawkes_analytics.cli", *command[1:]]
        if command[1] == "run":
            argv += ["--reports-dir", str(self.reports_dir)]
        return argv

    async def _run(self, command: list[str], job: RefreshJob) -> tuple[int, str]:
        log_path = self._path(job.id).with_suffix(".log")
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            env=_child_environment(),
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), ABANDONED_AFTER_SECONDS)
        except TimeoutError:
            os.killpg(process.pid, 9)
            await process.wait()
            return -9, "killed: the step ran past the job's time limit"
        text = out.decode("utf-8", errors="replace")
        with log_path.open("a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(command)}\n{text}\n")
        return int(process.returncode or 0), text

    def _published_run(self, output: str, job: RefreshJob) -> dict[str, Any] | None:
        """The overview run this job published: the folder `fawkes-analytics run` printed."""
        folders = RunFolders(self.reports_dir)
        for line in reversed(output.splitlines()):
            _, arrow, where = line.partition(" -> ")
            if not arrow:
                continue
            path = Path(where.strip())
            for candidate in (path.name, path.parent.name):
                if RUN_ID.match(candidate) and (run := folders.resolve("overview", candidate)) is not None:
                    return {"report": "overview", "run_id": run.run_id}
        return None
