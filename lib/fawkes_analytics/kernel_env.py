"""The environment of report and dashboard kernels: an allow-list, never the whole environment.

A notebook kernel runs code that data scientists edit and prints whatever it likes into the
executed notebook, so it must not hold the SMTP password, the Voilà token, the cookie secret
or API keys it does not need. Kernels get only:

- what Python, Jupyter and Java/Spark need: ``PATH``, ``HOME``, ``LANG``/``LC_*``, ``TZ``,
  ``TMPDIR``, ``PYTHONPATH``, ``VIRTUAL_ENV``/``CONDA_*``, ``JAVA_HOME``, ``SPARK_*``,
  ``PYSPARK_*``, ``HADOOP_*``, ``JUPYTER_*``, ``IPYTHON*``, CA bundles, proxies, thread counts;
- the project's non-secret settings: every ``FAWKES_ANALYTICS_*`` variable whose name does not
  look secret (see ``sources.base.looks_secret``) and whose value carries no credential, except
  the SMTP and Voilà server settings; settings given under an old name (``FAWKES_METRICS_*``,
  ``PLAUSIBLE_API_KEY``, ...) reach the kernel under the new one (settings.py);
- ``FAWKES_ANALYTICS_WORKDIR``, the directory the command ran in, so that relative paths
  (``duckdb://data/demo.duckdb``) mean the same inside the kernel, which runs in notebooks/;
- the few secrets a kernel truly needs (:data:`KERNEL_SECRETS`: the source URL when it
  carries a password or token, the Plausible API key, the service tokens, a Pushgateway URL
  with credentials) **as files**: the kernel gets ``NAME_FILE``, a path to a file readable
  only by this user, and reads it with ``sources.base.read_secret(NAME)``. An operator may set
  ``NAME_FILE`` directly (a Kubernetes secret volume); otherwise the value of ``$NAME`` is
  written to a private folder (in ``/dev/shm`` when it exists, so never to disk) that lives
  as long as the run or the dashboard server and is removed afterwards.

Everything else (``FAWKES_ANALYTICS_SMTP_*``, ``FAWKES_ANALYTICS_VOILA_*``, cloud credentials,
...) stays out.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

from . import settings
from .sources.base import looks_secret, redact_text

# Secrets a kernel may need, passed as NAME_FILE (a path), never as a value.
KERNEL_SECRETS = (
    "FAWKES_ANALYTICS_SOURCE",
    "FAWKES_ANALYTICS_PLAUSIBLE_API_KEY",
    "FAWKES_ANALYTICS_EXPERIMENTS_TOKEN",
    "FAWKES_ANALYTICS_FEEDBACK_TOKEN",
    "FAWKES_ANALYTICS_PUSHGATEWAY_URL",
)
# Settings of servers a kernel never talks to, kept out even when they look harmless.
BLOCKED_PREFIXES = ("FAWKES_ANALYTICS_SMTP_", "FAWKES_ANALYTICS_VOILA_")
PASS_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONHASHSEED",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONWARNINGS",
        "VIRTUAL_ENV",
        "LD_LIBRARY_PATH",
        "JAVA_HOME",
        "MPLBACKEND",
        "MPLCONFIGDIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_MAX_THREADS",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_RUNTIME_DIR",
    }
)
PASS_PREFIXES = (
    "LC_",
    "SPARK_",
    "PYSPARK_",
    "HADOOP_",
    "JUPYTER_",
    "IPYTHON",
    "CONDA_",
    "FAWKES_ANALYTICS_",
)
_SECRETS_DIR_PREFIX = "fawkes-kernel-secrets-"
_OWNED = re.compile(rf"^{_SECRETS_DIR_PREFIX}(\d+)-")


def _carries_secret(name: str, value: str) -> bool:
    return looks_secret(name) or redact_text(value) != value


def _allowed(name: str) -> bool:
    return (name in PASS_NAMES or name.startswith(PASS_PREFIXES)) and not name.startswith(BLOCKED_PREFIXES)


def kernel_environment(
    environ: Mapping[str, str] | None = None,
    *,
    extra: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
) -> dict[str, str]:
    """The allow-listed environment for a kernel (see the module docstring).

    ``extra`` adds or overrides variables (the run folder, an explicit source URL) before the
    rules apply. Secret values named in :data:`KERNEL_SECRETS` are written into
    ``secrets_dir`` and passed as ``NAME_FILE``; without ``secrets_dir`` they are left out.
    """
    source = settings.canonical_environment(os.environ if environ is None else environ)
    source.update(extra or {})
    source.setdefault(settings.WORKDIR_ENV, str(settings.workdir(source)))
    env: dict[str, str] = {}
    for name, value in source.items():
        if name.endswith("_FILE") and name.removesuffix("_FILE") in KERNEL_SECRETS:
            env[name] = value  # a path to a secret, not the secret
        elif name not in KERNEL_SECRETS and _allowed(name) and not _carries_secret(name, value):
            env[name] = value
    for name in KERNEL_SECRETS:
        secret_value = source.get(name)
        if not secret_value or f"{name}_FILE" in env and name not in (extra or {}):
            continue
        if not _carries_secret(name, secret_value):
            env[name] = secret_value
        elif secrets_dir is not None:
            path = Path(secrets_dir) / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secret_value)
            env[f"{name}_FILE"] = str(path)
    return env


def _remove_orphaned_secret_dirs(parent: Path) -> None:
    """Secret folders of processes that died without cleaning up (SIGKILL) are removed."""
    for folder in parent.glob(f"{_SECRETS_DIR_PREFIX}*"):
        match = _OWNED.match(folder.name)
        if match and not psutil.pid_exists(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def private_dir() -> Path:
    """A new folder only this user can read, in RAM (/dev/shm) when possible."""
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    _remove_orphaned_secret_dirs(parent)
    return Path(tempfile.mkdtemp(prefix=f"{_SECRETS_DIR_PREFIX}{os.getpid()}-", dir=parent))


@contextmanager
def kernel_env(extra: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """The kernel environment of one run; its secret files are removed when the run ends."""
    folder = private_dir()
    try:
        yield kernel_environment(extra=extra, secrets_dir=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restrict_process_environment() -> dict[str, str]:
    """Replace this process's environment by the kernel environment, for good (the dashboard
    server: Voilà starts every kernel with the server's environment). The secret files live
    until the process exits. Returns the new environment."""
    folder = private_dir()
    atexit.register(shutil.rmtree, folder, True)
    env = kernel_environment(secrets_dir=folder)
    os.environ.clear()
    os.environ.update(env)
    return env
