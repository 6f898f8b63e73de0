"""Typed records at the seams round-trip through their JSON form and keep what they do not know."""

from __future__ import annotations

import json
import math

from fawkes_analytics.delivery import Message, MessageKind
from fawkes_analytics.records import Attempt, PendingDelivery, RunRecord, RunStatus


def test_a_run_record_round_trips_and_keeps_keys_written_by_others() -> None:
    record = RunRecord(
        "overview",
        "20261115T070000Z",
        "/reports/overview/20261115T070000Z",
        "succeeded",
        "2026-11-15T07:00:00+00:00",
        parameters={"time_range": "24h", "ratio": math.nan},
        versions={"git_commit": "abc"},
    )
    data = json.loads(record.to_json())
    assert data["status"] == "succeeded" and data["parameters"]["ratio"] is None  # JSON has no NaN
    data["schedule"] = {"name": "daily-overview", "attempt": 1}  # the scheduler adds this to run.json
    again = RunRecord.from_dict(data)
    assert again.status is RunStatus.SUCCEEDED and again.succeeded
    assert again.extra == {"schedule": {"name": "daily-overview", "attempt": 1}}
    assert RunRecord.from_dict(again.to_dict()) == again
    assert again.to_dict()["schedule"]["name"] == "daily-overview"


def test_attempts_and_pending_deliveries_round_trip() -> None:
    attempt = Attempt.from_dict(
        {
            "schedule": "s",
            "report": "overview",
            "slot": "2026-11-15T07:00:00+00:00",
            "attempt": 2,
            "status": "failed",
            "error": "boom",
            "retryable": False,
            "run_id": "x",
            "duration_seconds": 1.5,
        }
    )
    assert attempt.extra == {"run_id": "x", "duration_seconds": 1.5} and not attempt.succeeded
    assert Attempt.from_dict(attempt.to_dict()) == attempt
    pending = PendingDelivery("overview", "/r/run.json", "succeeded", "2026-11-15T07:00:00+00:00", attempts=1)
    assert PendingDelivery.from_dict(json.loads(json.dumps(pending.to_dict()))) == pending


def test_a_message_names_its_kind_and_recipients() -> None:
    message = Message(MessageKind.FAILURE, ("owner@example.com",))
    assert message.kind == "failure" and f"{message.kind}" == "failure" and message.cc == ()
