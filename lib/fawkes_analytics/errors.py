"""Every error the library raises on purpose, each carrying what the user needs to fix it."""

from __future__ import annotations


class FawkesError(Exception):
    """Base class of the library's own errors."""


class SchemaError(FawkesError, ValueError):
    """Data does not match a canonical table: names the table, column, problem and a row."""

    def __init__(
        self,
        table: str,
        column: str | None,
        problem: str,
        example: object | None = None,
        where: str | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        self.example = example
        self.where = where
        parts = [f"table '{table}'"]
        if where:
            parts.insert(0, where)
        if column:
            parts.append(f"column '{column}'")
        message = ", ".join(parts) + f": {problem}"
        if example is not None:
            message += f"; example row: {example}"
        super().__init__(message)


class ParameterError(FawkesError, ValueError):
    """A report or library parameter is unknown, ill-typed or out of range."""

    def __init__(self, name: str, problem: str, allowed: object | None = None) -> None:
        self.name = name
        self.problem = problem
        self.allowed = allowed
        message = f"parameter '{name}': {problem}"
        if allowed is not None:
            message += f" (allowed: {allowed})"
        super().__init__(message)


class ConfigError(FawkesError, ValueError):
    """A configuration file (analytics.yaml, schedules/*.yaml) is invalid.

    ``line`` (1-based) is the line of the offending key when the file was parsed from YAML.
    """

    def __init__(self, path: str, key: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: key '{key}': {problem}")


class SourceUnavailable(FawkesError):
    """A data source could not be reached or answered badly after retries."""


class SourceResponseError(FawkesError, ValueError):
    """A source answered with a body that does not match its documented shape."""

    def __init__(self, endpoint: str, field: str, problem: str) -> None:
        self.endpoint = endpoint
        self.field = field
        self.problem = problem
        super().__init__(f"{endpoint}: field '{field}': {problem}")


class RunError(FawkesError):
    """A report run failed; the run folder keeps the executed notebook for debugging."""

    def __init__(self, message: str, run_dir: str | None = None) -> None:
        self.run_dir = run_dir
        super().__init__(message + (f" (run folder: {run_dir})" if run_dir else ""))


class RunTimeout(RunError):
    """A report run exceeded its overall timeout and its kernel was killed."""


class DiskFull(RunError):
    """The disk holding ``path`` is full; nothing half-written was published."""

    def __init__(self, path: str, detail: str = "") -> None:
        self.path = path
        message = f"no space left on the device holding {path}: free some space (or prune old runs) and run again"
        super().__init__(message + (f" ({detail})" if detail else ""))


class DeliveryError(FawkesError):
    """An email could not be built or sent (SMTP settings, server refused, unreachable)."""


class ExportError(FawkesError):
    """Metrics could not be published (Pushgateway unreachable or refusing)."""
