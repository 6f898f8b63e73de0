"""Delivery state in the run record, written atomically, doubling as the idempotency ledger.

Each delivery attempt is a list of entries under ``"delivery"`` in the run's ``run.json``
(one per channel, kind of message and recipient). An entry is written with state
``"sending"`` *before* the message goes out and updated to ``"sent"`` or ``"failed"``
afterwards. A later attempt that finds ``"sending"`` cannot know whether the earlier process
crashed before or after the server accepted the message, so it marks the entry
``"unconfirmed"`` and does not send again: a missing email is better than a duplicate.
``"failed"`` (the server refused or could not be reached) is safe to retry.

Writes go to a temporary file in the same folder and are renamed over ``run.json``
(``os.replace`` is atomic on POSIX), under a file lock so two processes never interleave.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import atomic

SENDING, SENT, FAILED, SKIPPED, UNCONFIRMED = "sending", "sent", "failed", "skipped", "unconfirmed"
FINAL_STATES = (SENT, SKIPPED, UNCONFIRMED)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file and ``os.replace``: readers see old or new, never half."""
    atomic.write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    """Parsed JSON of ``path``, or ``default`` when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def idempotency_key(run_id: str, channel: str, kind: str, recipient: str) -> str:
    """Stable key of one message to one recipient for one run (hex, 24 chars)."""
    raw = "\x1f".join((run_id, channel, kind, recipient.lower()))
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DeliveryLedger:
    """The ``delivery`` list of one record file (a run's run.json, or a stand-in file)."""

    def __init__(self, record_path: Path) -> None:
        self.path = Path(record_path)
        from filelock import FileLock  # imported when a ledger is used: `history` only reads

        self._lock = FileLock(str(self.path) + ".lock", mode=atomic.file_mode())

    def entries(self) -> list[dict]:
        return list((read_json(self.path, {}) or {}).get("delivery", []))

    def by_key(self) -> dict[str, dict]:
        return {e["key"]: e for e in self.entries() if e.get("key")}

    def update(self, mutate: Callable[[dict], None]) -> dict:
        """Apply ``mutate`` to the whole record under the lock and write it atomically."""
        with self._lock:
            record = read_json(self.path, {}) or {}
            record.setdefault("delivery", [])
            mutate(record)
            write_json_atomic(self.path, record)
            return record

    def upsert(self, entries: Iterable[dict]) -> None:
        """Insert or replace entries by ``key`` (stamped with ``updated_at``)."""
        entries = [dict(e, updated_at=now_iso()) for e in entries]

        def mutate(record: dict) -> None:
            index = {e.get("key"): i for i, e in enumerate(record["delivery"])}
            for entry in entries:
                i = index.get(entry["key"])
                if i is None:
                    entry.setdefault("attempts", 1 if entry["state"] == SENDING else 0)
                    record["delivery"].append(entry)
                else:
                    entry["attempts"] = record["delivery"][i].get("attempts", 0) + (
                        1 if entry["state"] == SENDING else 0
                    )
                    record["delivery"][i] = {**record["delivery"][i], **entry}

        self.update(mutate)

    def pending(self) -> list[dict]:
        """Entries that a retry may still send (state ``failed``)."""
        return [e for e in self.entries() if e.get("state") == FAILED]
