"""``fawkes-analytics check``: verify a deployment's configuration in one go.

One line per check: ``ok``, ``warning`` (works, but something will bite later) or
``failed`` (something is broken), each with what was found and, when it is not ok, the fix.
The command exits with 1 when any check failed, so it serves as the start-up check of the
Kubernetes Deployment (an init container: a broken configuration never starts serving) and
as the first thing to run after changing a setting.

The checks, in order: the catalog (analytics.yaml) and the schedules; the source, reachable
and with the canonical tables and columns; the rollup store's freshness (its newest version's
``as_of``, warned about when older than :data:`STALE_AFTER`); SMTP connect and log-in (nothing
is sent); the Pushgateway reachable; the Jupyter kernel registered; Chromium present (PDF
reports); the reports folder writable; the Voilà token set when the dashboards are served
beyond localhost. Nothing here changes anything (the write test removes its file).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import settings
from .errors import FawkesError

STALE_AFTER = timedelta(minutes=15)  # the refresh schedule runs every 5 minutes
KERNEL_NAME = "fawkes-analytics"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


class Outcome(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    """The result of one check: what, how it went, what was found, and the fix when not ok."""

    name: str
    outcome: Outcome
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.outcome.value:8} {self.name}: {self.detail}"
        return text + (f" (fix: {self.fix})" if self.fix and self.outcome is not Outcome.OK else "")


@dataclass
class Context:
    """What the checks share: where things are, and what the run of the checks found so far."""

    reports_dir: Path
    schedules_dir: Path
    serve_host: str
    env: dict[str, str] | None = None
    schedules: list[Any] | None = None
    source: Any = None


def ok(name: str, detail: str) -> Check:
    return Check(name, Outcome.OK, detail)


def warning(name: str, detail: str, fix: str) -> Check:
    return Check(name, Outcome.WARNING, detail, fix)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, Outcome.FAILED, detail, fix)


# -- the checks -----------------------------------------------------------------------------


def check_catalog(ctx: Context) -> Check:
    from . import catalog

    try:
        loaded = catalog.load()
    except FawkesError as exc:
        return failed("catalog", str(exc), f"edit {settings.catalog_path()} (schemas/analytics.schema.json)")
    return ok(
        "catalog",
        f"{settings.catalog_path().name}: {len(loaded.features)} features, {len(loaded.funnels)} funnels, "
        f"{len(loaded.experiment_ids)} experiments",
    )


def check_schedules(ctx: Context) -> Check:
    from .schedules.config import load_schedules

    try:
        ctx.schedules = load_schedules(ctx.schedules_dir)
    except FawkesError as exc:
        return failed("schedules", str(exc), "fix the file named (schemas/schedule.schema.json, docs/scheduling.md)")
    enabled = [s for s in ctx.schedules if s.enabled]
    return ok("schedules", f"{len(ctx.schedules)} in {ctx.schedules_dir} ({len(enabled)} enabled)")


def check_source(ctx: Context) -> Check:
    from . import sources
    from .sources.base import Capability, redact_url

    url = settings.source_url()
    try:
        ctx.source = source = sources.connect(url)
        if source.offers(Capability.AGGREGATE_ONLY):
            status = source.status()
            detail = f"{source.kind} (aggregate-only: the usage report, no event-level reports)"
            if not status.available:
                return warning("source", f"{detail}; {status.banner}", "check the source's URL and API key")
            return ok("source", detail)
        tables = []
        for name, capability in (
            ("events", Capability.EVENTS),
            ("assignments", Capability.ASSIGNMENTS),
            ("feedback", Capability.FEEDBACK),
        ):
            if source.offers(capability):
                table = getattr(source, name)()
                tables.append(f"{name} ({len(table.schema())} columns)")
        source.events().limit(1).execute()
    except FawkesError as exc:
        return failed("source", f"{redact_url(url)}: {exc}", "set FAWKES_ANALYTICS_SOURCE (docs/sources.md)")
    except Exception as exc:  # a driver's own error: the message says what failed
        return failed("source", f"{redact_url(url)}: {type(exc).__name__}: {exc}", "check the URL and the server")
    demo = " (demo data)" if source.is_demo else ""
    return ok("source", f"{source.kind}{demo}: {', '.join(tables)} with the canonical columns")


def check_rollups(ctx: Context, now: datetime | None = None) -> Check:
    from .rollups.store import RollupStore

    if ctx.source is None:
        return warning("rollups", "not checked: the source did not open", "fix the source first")
    location = getattr(ctx.source, "rollups_location", None)
    if location is None:
        return ok("rollups", "no rollup store for this source (queries read the source directly)")
    manifest = RollupStore(location).latest()
    if manifest is None:
        return warning("rollups", f"no version in {location} yet", "run `fawkes-analytics refresh`")
    age = (now or datetime.now(UTC)) - manifest.as_of
    detail = f"version {manifest.version} as of {manifest.as_of:%Y-%m-%d %H:%M} UTC ({_age(age)} old)"
    if manifest.watermark is not None:
        detail += f", newest event {manifest.watermark:%Y-%m-%d %H:%M}"
    if age > STALE_AFTER:
        return warning(
            "rollups",
            detail,
            "is the refresh schedule running? run `fawkes-analytics refresh` (schedules/refresh.yaml)",
        )
    return ok("rollups", detail)


def _age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def check_smtp(ctx: Context) -> Check:
    from .delivery.email import SmtpSettings, smtp_session

    wants_email = [s.name for s in ctx.schedules or [] if s.enabled and s.email is not None]
    if not settings.is_set("SMTP_HOST", ctx.env):
        if wants_email:
            return failed(
                "smtp", f"not configured, but {', '.join(wants_email)} send email", "set FAWKES_ANALYTICS_SMTP_HOST"
            )
        return ok("smtp", "not configured (no enabled schedule sends email)")
    try:
        smtp = SmtpSettings.from_env(ctx.env)
        with smtp_session(smtp):
            pass
    except FawkesError as exc:
        return failed("smtp", str(exc), "fix the FAWKES_ANALYTICS_SMTP_* settings (docs/scheduling.md)")
    except Exception as exc:  # smtplib and socket errors: the server's answer says what is wrong
        return failed(
            "smtp",
            f"{settings.get('SMTP_HOST', env=ctx.env)}: {type(exc).__name__}: {exc}",
            "check host, port, security mode, user and password; `fawkes-analytics email-test --to you@...`",
        )
    login = f"logged in as {smtp.user}" if smtp.user else "connected (no login configured)"
    return ok("smtp", f"{smtp.host}:{smtp.port} ({smtp.security}): {login}; nothing sent")


def check_pushgateway(ctx: Context) -> Check:
    import httpx

    from .sources.base import redact_url

    url = settings.secret("PUSHGATEWAY_URL", ctx.env)
    if not url:
        return ok("pushgateway", "not configured (metrics are written as a textfile or not pushed)")
    try:
        response = httpx.get(url.rstrip("/") + "/-/healthy", timeout=5.0)
    except httpx.HTTPError as exc:
        return failed("pushgateway", f"{redact_url(url)}: {type(exc).__name__}: {exc}", "is the Pushgateway running?")
    if response.status_code != 200:
        return failed("pushgateway", f"{redact_url(url)}/-/healthy answered {response.status_code}", "check the URL")
    return ok("pushgateway", f"{redact_url(url)} is healthy")


def check_kernel(ctx: Context) -> Check:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return failed(
            "kernel",
            f"Jupyter kernel {KERNEL_NAME!r} is not registered",
            "run `make setup` (python -m ipykernel install --sys-prefix --name fawkes-analytics)",
        )
    return ok("kernel", f"{KERNEL_NAME!r} runs {spec.argv[0]}")


def check_chromium(ctx: Context) -> Check:
    found = next((path for name in CHROMIUM if (path := shutil.which(name))), None)
    if found:
        return ok("chromium", f"{found} (PDF reports and dashboard screenshots)")
    wants_pdf = [s.name for s in ctx.schedules or [] if s.enabled and "pdf" in s.outputs]
    fix = "install Debian's chromium (scripts/install-system-deps.sh)"
    if wants_pdf:
        return failed("chromium", f"not found, but {', '.join(wants_pdf)} publish PDF", fix)
    return warning("chromium", "not found: reports cannot be rendered as PDF", fix)


def check_reports(ctx: Context) -> Check:
    try:
        ctx.reports_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=ctx.reports_dir, prefix=".check-"):
            pass
    except OSError as exc:
        return failed(
            "reports", f"{ctx.reports_dir} is not writable: {exc.strerror or exc}", "set FAWKES_ANALYTICS_REPORTS_DIR"
        )
    return ok("reports", f"{ctx.reports_dir} is writable")


def check_dashboards(ctx: Context) -> Check:
    from .serve import is_loopback

    token_set = bool(settings.secret("VOILA_TOKEN", ctx.env))
    if is_loopback(ctx.serve_host):
        return ok("dashboards", f"served on {ctx.serve_host} only" + ("; token set" if token_set else ""))
    if not token_set:
        return failed(
            "dashboards",
            f"served on {ctx.serve_host} without a token: anyone on the network could open them",
            "set FAWKES_ANALYTICS_VOILA_TOKEN (a Kubernetes secret, docs/operations.md)",
        )
    return ok("dashboards", f"served on {ctx.serve_host}; token set")


CHECKS: tuple[Callable[[Context], Check], ...] = (
    check_catalog,
    check_schedules,
    check_source,
    check_rollups,
    check_smtp,
    check_pushgateway,
    check_kernel,
    check_chromium,
    check_reports,
    check_dashboards,
)


def check_names() -> list[str]:
    return [check.__name__.removeprefix("check_") for check in CHECKS]


def run_checks(ctx: Context, skip: Collection[str] = ()) -> Iterator[Check]:
    """Every check in order but those in ``skip``; a check that crashes is reported as failed,
    never stops the rest."""
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        if name in skip:
            continue
        try:
            yield check(ctx)
        except Exception as exc:
            yield failed(name, f"the check itself failed: {type(exc).__name__}: {exc}", "report this as a bug")


def _cmd_check(args: argparse.Namespace) -> int:
    from .sources.base import redact_text

    ctx = Context(
        reports_dir=settings.resolve_path(args.reports_dir) if args.reports_dir else settings.reports_dir(),
        schedules_dir=settings.resolve_path(args.schedules_dir) if args.schedules_dir else settings.schedules_dir(),
        serve_host=args.serve_host,
    )
    counts = dict.fromkeys(Outcome, 0)
    for check in run_checks(ctx, skip=set(args.skip or ())):
        counts[check.outcome] += 1
        print(redact_text(check.line()), flush=True)
    print(f"{counts[Outcome.OK]} ok, {counts[Outcome.WARNING]} warning(s), {counts[Outcome.FAILED]} failed")
    return 1 if counts[Outcome.FAILED] else 0


def register_cli(commands: argparse._SubParsersAction) -> None:
    """The ``check`` command."""
    from .commands import help_of

    parser = commands.add_parser("check", help=help_of("check"), description=__doc__.split("\n\n")[1])
    parser.add_argument("--reports-dir", help="default: the configured reports folder")
    parser.add_argument("--schedules-dir", help="default: the configured schedules folder")
    parser.add_argument(
        "--serve-host",
        default="127.0.0.1",
        help="address the dashboards are served on (the Deployment's --host); off loopback a token is required",
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=check_names(),
        help="leave out a check that does not apply here (repeatable), e.g. smtp in the dashboard pods",
    )
    parser.set_defaults(func=_cmd_check)
