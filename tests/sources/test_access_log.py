"""The access-log importer on a real Apache log and on a hand-made one."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from fawkes_analytics.sources.access_log import import_access_log, read_access_log, register_cli
from fawkes_analytics.sources.files import open_files
from fawkes_analytics.sources.ibis_source import open_duckdb
from fawkes_analytics.timerange import resolve

LOG = Path(__file__).resolve().parents[1] / "data" / "apache_logs"

# An independent count with awk, splitting on quotes rather than using the importer's regex:
# a combined line has exactly 6 quotes (7 fields); the rule of the module docstring is
# re-stated here: bot, then method, then status, then asset; the rest are pageviews.
AWK = r"""
BEGIN { bots = "bot|crawl|spider|slurp|archiver|curl|wget|python-requests|python-urllib|libwww|java/|go-http-client|httpclient|okhttp|scrapy|headless|phantomjs|facebookexternalhit|feed|rss|fetcher|preview|validator|pingdom|uptime|monitor" }
NF != 7 { rejected++; print "REJECT " NR; next }
{
  agent = tolower($6); n = split($2, r, " "); split($3, s, " "); status = s[1] + 0; split($1, h, " ")
  if (agent == "" || agent == "-" || agent ~ bots) { bot++; next }
  if (r[1] != "GET" || n < 2 || n > 3) { method++; next }
  if (!((status >= 200 && status < 300) || status == 304)) { bad_status++; next }
  path = r[2]; sub(/[?#].*/, "", path); k = split(path, seg, "/"); last = seg[k]
  if (path ~ /\/$/ || last !~ /\.[A-Za-z0-9]+$/ || tolower(last) ~ /\.(html|htm|shtml|xhtml|php|asp|aspx|jsp|cgi)$/) { pv++; users[h[1] "|" $6] = 1 } else asset++
}
END { u = 0; for (x in users) u++; print "COUNTS", NR, rejected, bot, method, bad_status, asset, pv, u }
"""


@pytest.fixture(scope="module")
def awk_counts() -> dict[str, object]:
    out = subprocess.run(
        ["awk", "-F", '"', AWK, str(LOG)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    counts = next(line for line in out if line.startswith("COUNTS")).split()[1:]
    names = ["lines", "rejected", "bot", "method", "status", "asset", "pageviews", "users"]
    result: dict[str, object] = dict(zip(names, map(int, counts), strict=True))
    result["rejected_lines"] = [int(line.split()[1]) for line in out if line.startswith("REJECT")]
    return result


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    output = tmp_path_factory.mktemp("logs") / "events.duckdb"
    return import_access_log(LOG, output, site_host="semicomplete.com"), output


def test_counts_match_an_independent_awk_count(imported, awk_counts):
    report, _ = imported
    assert report.lines == awk_counts["lines"] == 10_000
    assert report.rejected == awk_counts["rejected"] == 1
    assert report.rejected_lines["line"].tolist() == awk_counts["rejected_lines"] == [8899]  # the truncated line
    assert report.rejected_lines["reason"].tolist() == ["not in combined log format"]
    assert report.parsed == 10_000 - 1
    assert report.filtered == {k: awk_counts[k] for k in ("bot", "method", "status", "asset")}
    assert report.pageviews == awk_counts["pageviews"]
    assert report.parsed == sum(report.filtered.values()) + report.pageviews
    # the figures at the time of writing, so a change in the rule shows up here too
    assert (report.filtered, report.pageviews) == ({"bot": 2493, "method": 27, "status": 214, "asset": 5480}, 1785)


def test_usage_metrics_run_on_the_imported_log(imported, awk_counts):
    from fawkes_analytics.metrics.usage import usage_trends

    report, output = imported
    source = open_duckdb(output)
    assert report.first_timestamp == "2015-05-17T10:05:13Z" and report.last_timestamp == "2015-05-20T21:05:53Z"
    usage = usage_trends(source, resolve(start="2015-05-17", end="2015-05-21"))
    assert usage.pageviews == report.pageviews
    assert usage.visitors == awk_counts["users"]  # one user per (address, user agent)
    assert 0 < usage.visits <= usage.pageviews and 0 <= usage.bounce_rate <= 100
    assert usage.timeseries["pageviews"].sum() == report.pageviews  # 4 daily buckets
    assert "google.com" in usage.sources["source"].tolist()
    assert "semicomplete.com" not in usage.sources["source"].tolist()  # own host is not a source


SAMPLE = """\
1.1.1.1 - - [10/Mar/2024:10:00:00 +0000] "GET /pricing?utm_source=news&utm_campaign=spring%20sale HTTP/1.1" 200 512 "https://www.google.com/search?q=x" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
1.1.1.1 - - [10/Mar/2024:10:00:01 +0000] "GET /static/app.css HTTP/1.1" 200 90 "https://example.org/pricing" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
1.1.1.1 - - [10/Mar/2024:11:00:00 +0100] "GET /docs/ HTTP/1.1" 304 0 "https://example.org/pricing" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
2.2.2.2 - - [10/Mar/2024:10:05:00 +0000] "GET / HTTP/1.1" 200 2048 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
3.3.3.3 - - [10/Mar/2024:10:06:00 +0000] "POST /login HTTP/1.1" 302 0 "-" "Mozilla/5.0 Safari/605.1"
3.3.3.3 - - [10/Mar/2024:10:07:00 +0000] "GET /missing HTTP/1.1" 404 10 "-" "Mozilla/5.0 Safari/605.1"
3.3.3.3 - - [10/Mar/2024:10:08:00 +0000] "GET /about.html HTTP/1.1" 200 10 "-" "Mozilla/5.0 Safari/605.1"
this is not a log line
3.3.3.3 - - [99/Foo/2024:10:08:00 +0000] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0 Safari/605.1"
4.4.4.4 - - [10/Mar/2024:10:09:00 +0000] "GET / HTTP/1.1" 200 10 "-" "-"
"""


def test_hand_made_log(tmp_path):
    path = tmp_path / "access.log"
    path.write_text(SAMPLE)
    events, report = read_access_log(path, site_host="example.org")
    # By hand: 10 lines. Rejected: line 8 (not a log line), line 9 (month "Foo").
    # Filtered: bot = line 4 (Googlebot) + line 10 (empty agent "-") = 2; method = line 5 (POST);
    # status = line 6 (404); asset = line 2 (.css). Pageviews: lines 1, 3 (304) and 7 (.html).
    assert (report.lines, report.parsed, report.rejected) == (10, 8, 2)
    assert report.rejected_lines["line"].tolist() == [8, 9]
    assert report.rejected_lines["reason"].tolist() == ["not in combined log format", "unparseable timestamp"]
    assert report.filtered == {"bot": 2, "method": 1, "status": 1, "asset": 1}
    assert report.pageviews == 3
    assert events["page"].tolist() == ["/pricing", "/docs/", "/about.html"]
    # 11:00 +0100 is 10:00 UTC
    assert events["timestamp"].tolist() == [
        pd.Timestamp("2024-03-10 10:00:00"),
        pd.Timestamp("2024-03-10 10:00:00"),
        pd.Timestamp("2024-03-10 10:08:00"),
    ]
    assert events["source"].tolist() == ["google.com", None, None]  # own host example.org is no source
    assert events["referrer"].tolist()[2] is None
    assert events["utm_source"].tolist() == ["news", None, None] and events["utm_campaign"].tolist()[0] == "spring sale"
    assert events["user_id"].nunique() == 2 and events["user_id"].iloc[0] == events["user_id"].iloc[1]
    assert "1.1.1.1" not in "".join(events["user_id"])  # the address is hashed
    assert (events["event_name"] == "pageview").all() and events["event_id"].is_unique


def test_ids_are_stable_and_salt_changes_users(tmp_path):
    path = tmp_path / "access.log"
    path.write_text(SAMPLE)
    first, _ = read_access_log(path)
    again, _ = read_access_log(path)
    salted, _ = read_access_log(path, salt="secret")
    assert first["event_id"].tolist() == again["event_id"].tolist()
    assert first["user_id"].tolist() == again["user_id"].tolist()
    assert set(first["user_id"]).isdisjoint(salted["user_id"])


def test_parquet_output_opens_as_a_file_source(tmp_path):
    path = tmp_path / "access.log"
    path.write_text(SAMPLE)
    report = import_access_log(path, tmp_path / "out" / "events.parquet")
    assert report.output.startswith("file://")
    source = open_files(report.output)
    assert source.events().count().execute() == 3


def test_import_logs_command(tmp_path, capsys):
    path = tmp_path / "access.log"
    path.write_text(SAMPLE)
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["import-logs", str(path), "--output", str(tmp_path / "e.duckdb"), "--show-rejected", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "10 lines, 8 parsed, 2 rejected" in out and "3 pageviews" in out
    assert "rejected line 8: not in combined log format" in out and "... and 1 more rejected lines" in out
    assert open_duckdb(tmp_path / "e.duckdb").events().count().execute() == 3
    missing = parser.parse_args(["import-logs", str(tmp_path / "nope.log"), "-o", str(tmp_path / "x.duckdb")])
    assert missing.func(missing) == 2
