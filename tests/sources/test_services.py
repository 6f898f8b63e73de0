"""Experimentation and feedback service clients against a loopback server (docs/sources.md)."""

from __future__ import annotations

import pandas as pd
import pytest

from fawkes_analytics.errors import SchemaError, SourceResponseError, SourceUnavailable
from fawkes_analytics.sources.services import ExperimentationClient, FeedbackClient, ServicesSource, with_services

from .conftest import FAST_RETRY, Reply

TOKEN = "svc-token"
EXPERIMENTS = [
    {
        "id": "checkout_button",
        "name": "Green checkout button",
        "status": "running",
        "control": "control",
        "variants": [{"name": "control", "weight": 1}, {"name": "green", "weight": 1}],
        "started_at": "2024-03-01T00:00:00Z",
        "ended_at": None,
    },
    {
        "id": "onboarding_tour",
        "name": "Guided tour",
        "status": "stopped",
        "control": "off",
        "variants": [{"name": "off", "weight": 3}, {"name": "on", "weight": 1}],
    },
]
ASSIGNMENTS = {
    "checkout_button": [
        {"user_id": f"u{i}", "variant": "control" if i % 2 else "green", "assigned_at": "2024-03-02T10:00:00Z"}
        for i in range(5)
    ],
    "onboarding_tour": [{"user_id": 7, "variant": "on", "assigned_at": "2024-03-03T08:30:00+01:00"}],
}
FEEDBACK = [
    {
        "user_id": "u1",
        "timestamp": "2024-03-05T12:00:00Z",
        "score": 9,
        "kind": "nps",
        "comment": "great",
        "category": "ux",
    },
    {"user_id": "u2", "timestamp": "2024-03-06T12:00:00Z", "score": 3, "kind": "nps"},
    {
        "user_id": "u3",
        "timestamp": "2024-03-07T12:00:00Z",
        "score": 4,
        "kind": "rating",
        "comment": None,
        "category": None,
    },
]


def paged(items: list, request, size: int = 2) -> dict:
    """Cursor paging as documented: the cursor is the offset as text, null on the last page."""
    offset = int(request.query.get("cursor", "0"))
    nxt = offset + size
    return {"items": items[offset:nxt], "next_cursor": str(nxt) if nxt < len(items) else None}


def route(items_by_request, key):
    def handler(request):
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"error": "unauthorised"})
        page = paged(items_by_request(request), request)
        return Reply(200, {key: page["items"], "next_cursor": page["next_cursor"]})

    return handler


@pytest.fixture
def services(api_server):
    api_server.routes[("GET", "/api/experiments")] = route(lambda r: EXPERIMENTS, "experiments")
    api_server.routes[("GET", "/api/experiments/*")] = route(lambda r: ASSIGNMENTS[r.path.split("/")[3]], "assignments")
    api_server.routes[("GET", "/api/feedback")] = route(lambda r: FEEDBACK, "feedback")
    return api_server


def options(cache, sleeps):
    return {"token": TOKEN, "cache": cache, "retry": FAST_RETRY, "sleep": sleeps.append}


def test_experiment_definitions(services, cache, sleeps):
    experiments = ExperimentationClient(services.url, **options(cache, sleeps)).experiments()
    assert [e.id for e in experiments] == ["checkout_button", "onboarding_tour"]
    assert experiments[0].control == "control" and [v.name for v in experiments[0].variants] == ["control", "green"]
    assert experiments[1].split == {"off": 0.75, "on": 0.25}  # weights 3:1
    assert experiments[1].started_at is None


def test_assignments_follow_cursor_and_are_canonical(services, cache, sleeps):
    client = ExperimentationClient(services.url, **options(cache, sleeps))
    frame = client.assignments_frame("checkout_button")
    # 5 assignments in pages of 2 -> cursors none, "2", "4": 3 requests
    assert services.count("/api/experiments/checkout_button/assignments") == 3
    assert len(frame) == 5 and set(frame["variant"]) == {"control", "green"}
    everything = client.all_assignments()
    assert len(everything) == 6
    tour = everything[everything["experiment_id"] == "onboarding_tour"].iloc[0]
    assert tour["user_id"] == "7"  # an integer id becomes text
    assert tour["assigned_at"] == pd.Timestamp("2024-03-03 07:30:00")  # +01:00 -> naive UTC


def test_feedback_scores(services, cache, sleeps):
    frame = FeedbackClient(services.url, **options(cache, sleeps)).feedback_frame()
    assert frame["score"].tolist() == [9, 3, 4] and frame["kind"].tolist() == ["nps", "nps", "rating"]
    assert frame["comment"].tolist() == ["great", None, None]


def test_feedback_time_range_is_sent(services, cache, sleeps):
    from fawkes_analytics.timerange import resolve

    FeedbackClient(services.url, **options(cache, sleeps)).feedback_frame(resolve(start="2024-03-01", end="2024-03-08"))
    assert services.requests[0].query == {"since": "2024-03-01T00:00:00+00:00", "until": "2024-03-08T00:00:00+00:00"}


def test_wrong_score_type_names_endpoint_and_field(services, cache, sleeps):
    services.faults["/api/feedback"] = [
        Reply(
            200,
            {"feedback": [{"user_id": "u1", "timestamp": "2024-03-05T12:00:00Z", "score": "9"}], "next_cursor": None},
        )
    ]
    with pytest.raises(SourceResponseError, match=r"GET .*/api/feedback: field 'feedback\[0\].score': expected number"):
        FeedbackClient(services.url, **options(cache, sleeps)).feedback_frame()


def test_impossible_score_is_a_schema_error_naming_the_endpoint(services, cache, sleeps):
    services.faults["/api/feedback"] = [
        Reply(
            200,
            {"feedback": [{"user_id": "u1", "timestamp": "2024-03-05T12:00:00Z", "score": 11}], "next_cursor": None},
        )
    ]
    with pytest.raises(SchemaError, match=r"GET .*/api/feedback, table 'feedback', column 'score': value above 10"):
        FeedbackClient(services.url, **options(cache, sleeps)).feedback_frame()


def test_control_must_be_a_variant(services, cache, sleeps):
    broken = [{**EXPERIMENTS[0], "control": "blue"}]
    services.faults["/api/experiments"] = [Reply(200, {"experiments": broken, "next_cursor": None})]
    with pytest.raises(
        SourceResponseError, match=r"field 'experiments\[0\].control': 'blue' is not one of the variants"
    ):
        ExperimentationClient(services.url, **options(cache, sleeps)).experiments()


def test_missing_next_cursor_and_truncated_body(services, cache, sleeps):
    services.faults["/api/feedback"] = [Reply(200, {"feedback": []}), Reply(200, b'{"feedback": [')]
    client = FeedbackClient(services.url, **options(cache, sleeps))
    with pytest.raises(SourceResponseError, match="field 'next_cursor': missing"):
        client.feedback_frame()
    with pytest.raises(SourceResponseError, match="field 'body': truncated"):
        client.feedback_frame()


def test_services_source_keeps_events_from_the_store(services, cache, sleeps, make_source):
    events = pd.DataFrame(
        {"event_id": ["e1"], "timestamp": ["2024-03-05T10:00:00Z"], "user_id": ["u1"], "event_name": ["pageview"]}
    )
    base = make_source(events=events)
    source = with_services(base, services.url, services.url, **options(cache, sleeps))
    assert isinstance(source, ServicesSource)
    assert source.events().count().execute() == 1
    assignments = source.assignments().execute()
    assert len(assignments) == 6 and list(assignments.columns) == ["experiment_id", "variant", "user_id", "assigned_at"]
    assert source.feedback().score.sum().execute() == 16  # 9 + 3 + 4
    assert source.status().available and source.describe()["status"] is None
    assert with_services(base) is base  # nothing configured: the store alone


def test_services_down_fall_back_with_status(services, cache, sleeps, make_source):
    events = pd.DataFrame(
        {"event_id": ["e1"], "timestamp": ["2024-03-05T10:00:00Z"], "user_id": ["u1"], "event_name": ["pageview"]}
    )
    source = with_services(make_source(events=events), feedback_url=services.url, **options(cache, sleeps), ttl=0)
    assert source.feedback().count().execute() == 3
    services.down = True
    assert source.feedback().count().execute() == 3  # last good data
    assert source.describe()["status"].startswith("source unavailable, data as of ")
    fresh = with_services(make_source(events=events), feedback_url=services.url + "/other", **options(cache, sleeps))
    with pytest.raises(SourceUnavailable, match="no earlier data"):
        fresh.feedback()


def test_connect_attaches_the_configured_services(services, demo_db, tmp_path, monkeypatch):
    """docs/sources.md: with the service URLs set, connect() serves assignments and feedback from
    the services and events from the store, with the tokens from the environment."""
    from fawkes_analytics import sources
    from fawkes_analytics.sources.base import Capability

    monkeypatch.setenv("FAWKES_ANALYTICS_EXPERIMENTS_URL", services.url)
    monkeypatch.setenv("FAWKES_ANALYTICS_EXPERIMENTS_TOKEN", TOKEN)
    monkeypatch.setenv("FAWKES_ANALYTICS_FEEDBACK_URL", services.url)
    monkeypatch.setenv("FAWKES_ANALYTICS_FEEDBACK_TOKEN", TOKEN)
    monkeypatch.setenv("FAWKES_ANALYTICS_CACHE_DIR", str(tmp_path / "http-cache"))
    source = sources.connect(f"duckdb://{demo_db.path}")
    assert isinstance(source, ServicesSource) and source.kind == "duckdb+services"
    assert source.offers(Capability.ASSIGNMENTS) and source.offers(Capability.FEEDBACK)
    # 5 + 1 assignments and 3 answers (9 + 3 + 4) from the services, not the demo's tables
    assert source.assignments().count().execute() == 6
    assert source.feedback().score.sum().execute() == 16
    assert source.events().count().execute() == demo_db.events
    assert {(r.method, r.path) for r in services.requests} >= {("GET", "/api/experiments"), ("GET", "/api/feedback")}
    assert source.status().available

    monkeypatch.delenv("FAWKES_ANALYTICS_FEEDBACK_URL")
    only_experiments = sources.connect(f"duckdb://{demo_db.path}")
    assert only_experiments.feedback_client is None and only_experiments.experiments_client is not None
    monkeypatch.delenv("FAWKES_ANALYTICS_EXPERIMENTS_URL")
    assert not isinstance(sources.connect(f"duckdb://{demo_db.path}"), ServicesSource)
