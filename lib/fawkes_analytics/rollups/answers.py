"""Answers computed once per data version of the rollup store and read by every later reader.

Some questions cost seconds even on the rollups (the unusual-changes check fits a seasonal
model per KPI and day) and every reader of the same data asks them again: each report run,
the dashboards' views, the metrics export. ``remembered`` keeps such an answer beside the
store, under the data version of the tables it was computed from::

    <store>/answers/d00000042/<key>.json

The key is a hash of the question (its name and arguments), of the catalog's definitions and
of the library's own source code, so a changed funnel, sensitivity or formula never reads an
old answer. New data (a new data version) starts an empty folder; a refresh that found
nothing new keeps the data version, and its answers. Folders of data versions the store no
longer keeps are removed. Answers from raw events (no current store) are not
kept: there is no version to key them by. A reader that cannot write (a read-only store)
still gets its answer, computed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .. import atomic
from ..timerange import TimeRange
from .tables import StoreTables, Tables, tables_for

FOLDER = "answers"
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class KeptFamily(Protocol[T_co]):
    """A metric family wrapped by ``kept``: called, it reads or computes; ``if_kept`` only reads."""

    def __call__(self, *args: Any, **kwargs: Any) -> T_co: ...

    def if_kept(self, *args: Any, **kwargs: Any) -> T_co | None: ...


@functools.cache
def code_fingerprint() -> str:
    """A hash of every Python file of the library: answers of other code are never read."""
    package = Path(__file__).resolve().parent.parent  # the fawkes_analytics package
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def catalog_fingerprint(catalog: Any) -> str:
    """A hash of what ``catalog`` (or a funnel, or any definition) defines, not where its file lives."""
    if catalog is None:
        return "none"
    if dataclasses.is_dataclass(catalog) and any(f.name == "path" for f in dataclasses.fields(catalog)):
        catalog = dataclasses.replace(catalog, path="")  # type: ignore[type-var]
    return hashlib.sha256(repr(catalog).encode()).hexdigest()


def _key(question: Mapping[str, Any], catalog: Any) -> str:
    text = json.dumps(
        {"question": question, "catalog": catalog_fingerprint(catalog), "code": code_fingerprint()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def remembered(
    tables: Tables,
    question: Mapping[str, Any],
    catalog: Any,
    compute: Callable[[], T],
    dump: Callable[[T], dict[str, Any]],
    load: Callable[[dict[str, Any]], T],
) -> T:
    """The answer to ``question`` on ``tables``: read when this data version already has it,
    else computed by ``compute`` and kept for the next reader (``dump``/``load`` convert it)."""
    if not isinstance(tables, StoreTables):
        return compute()
    found = read_kept(tables, question, catalog, load)
    if found is not None:
        return found
    answer = compute()
    try:
        atomic.write_text(_path(tables, question, catalog), json.dumps(dump(answer), default=str))
        _forget_old_versions(tables)
    except OSError:
        pass  # a read-only store: the answer is still right, only not kept
    return answer


def read_kept(
    tables: Tables, question: Mapping[str, Any], catalog: Any, load: Callable[[dict[str, Any]], T]
) -> T | None:
    """The answer to ``question`` when this data version already has it, else None."""
    if not isinstance(tables, StoreTables):
        return None
    try:
        return load(json.loads(_path(tables, question, catalog).read_text(encoding="utf-8")))
    except OSError:  # not computed yet (or no answers folder can exist here)
        return None
    except (ValueError, KeyError, TypeError):  # unreadable: to be computed again and replaced
        return None


def _path(tables: StoreTables, question: Mapping[str, Any], catalog: Any) -> Path:
    folder = tables.store.path / FOLDER / _folder_name(tables.manifest.data_version)
    return folder / f"{_key(question, catalog)}.json"


def _folder_name(data_version: int) -> str:
    return f"d{data_version:08d}"


def _forget_old_versions(tables: StoreTables) -> None:
    """Remove the answers of data versions that no kept manifest has any more."""
    kept = {_folder_name(m.data_version) for m in tables.store.manifests()}
    root = tables.store.path / FOLDER
    for entry in root.iterdir():
        if entry.is_dir() and entry.name not in kept:
            shutil.rmtree(entry, ignore_errors=True)


# --- metric families -------------------------------------------------------------------------
class _NotKept(Exception):
    """An argument that cannot be part of a question (an engine table, an open object)."""


def _question_value(value: Any) -> Any:
    """An argument as it enters a question's key."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_question_value(v) for v in value]
    if isinstance(value, TimeRange):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a catalog, a funnel
        return catalog_fingerprint(value)
    raise _NotKept(type(value).__name__)


def _result_type(answer: Any) -> str:
    return f"{type(answer).__module__}:{type(answer).__qualname__}"


def _load_result(raw: dict[str, Any]) -> Any:
    module, name = raw["type"].split(":")
    return getattr(importlib.import_module(module), name).from_dict(raw["result"])


def kept(family: Callable[..., T]) -> KeptFamily[T]:
    """Keep the Result of a metric family per data version of the store (see ``remembered``).

    The family's arguments are its question: ``source`` picks the store, ``time_range``
    (a TimeRange) says up to when the store must vouch for the data, catalogs and funnels
    enter by their definitions, other arguments as they are. A call with an argument that
    cannot be keyed (an engine table), a range given as text, or no current store computes.
    """
    signature = inspect.signature(family)
    name = f"{family.__module__}.{family.__qualname__}"

    def asked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Tables, dict[str, Any]] | None:
        """The tables and the question of a call, or None when the call cannot be kept."""
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        source, time_range = arguments.pop("source"), arguments.get("time_range")
        if getattr(source, "rollups_location", None) is None or not isinstance(time_range, TimeRange):
            return None
        try:
            question = {"answer": name, **{k: _question_value(v) for k, v in arguments.items()}}
        except _NotKept:
            return None
        return tables_for(source, time_range.end, arguments.get("catalog")), question

    @functools.wraps(family)
    def answer(*args: Any, **kwargs: Any) -> T:
        call = asked(args, kwargs)
        if call is None:
            return family(*args, **kwargs)
        return remembered(
            *call,
            None,
            lambda: family(*args, **kwargs),
            lambda result: {"type": _result_type(result), "result": result.to_dict()},
            _load_result,
        )

    def if_kept(*args: Any, **kwargs: Any) -> T | None:
        """The kept answer of this call, or None (nothing is computed)."""
        call = asked(args, kwargs)
        return None if call is None else read_kept(*call, None, _load_result)

    answer.if_kept = if_kept  # type: ignore[attr-defined]
    return answer  # type: ignore[return-value]
