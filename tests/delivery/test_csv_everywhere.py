"""One CSV writer everywhere: the writer itself, the dashboard downloads and the email
attachments all quote CR/LF/quotes/separators and neutralise formula starts. Each path gets
the same hostile strings and is parsed back with a CSV reader. (The report path is covered by
tests/test_hostile_run.py, which publishes a real run.)"""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
from sched_support import build_run_folder

from fawkes_analytics.dashboard.render import write_tables
from fawkes_analytics.delivery import deliver
from fawkes_analytics.export.csv import csv_text, write_csv
from fawkes_analytics.schedules.config import parse_schedule

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd",
    "-1+2",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "text\r=cmd|' /C calc'!A0",
    "a\nb",
    'say "hi", then leave',
    "ordinary",
]
FRAME = pd.DataFrame({"=label": HOSTILE, "count": list(range(-3, len(HOSTILE) - 3))})


def check(text: str) -> None:
    """Parsed back: one row per record, formula starts neutralised, everything else intact."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["'=label", "count"]
    assert len(rows) == len(HOSTILE) + 1, "a CR or LF inside a cell split a row"
    for original, (written, _count) in zip(HOSTILE, rows[1:], strict=True):
        dangerous = original.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert written == ("'" + original if dangerous else original)
    assert [r[1] for r in rows[1:4]] == ["-3", "-2", "-1"], "numbers are left alone"


def test_the_writer_quotes_cr_and_lf_and_neutralises_formulas(tmp_path) -> None:
    check(csv_text(FRAME))
    path = write_csv(FRAME, tmp_path / "t.csv")
    check(path.read_bytes().decode("utf-8"))
    # the bug this guards against: pandas alone leaves a carriage return unquoted
    assert '"text\r=cmd' in csv_text(FRAME) and "\ntext\r=cmd" in FRAME.to_csv(index=False)


def test_dashboard_downloads_use_the_safe_writer(tmp_path) -> None:
    markup = str(write_tables(tmp_path, "overview", {"hostile": FRAME}, "../../fawkes/csv/pub/7d/_all"))
    (href,) = re.findall(r'class="fwk-csv" href="([^"]+)"', markup)
    assert href == "../../fawkes/csv/pub/7d/_all/csv/overview/hostile.csv"  # served behind the token
    check((tmp_path / "csv" / "overview" / "hostile.csv").read_bytes().decode("utf-8"))


def test_email_attachments_carry_the_safe_csv(tmp_path, smtp_server) -> None:
    run_dir = build_run_folder(tmp_path / "reports")
    write_csv(FRAME, run_dir / "hostile.csv")
    schedule = parse_schedule(
        {"cron": "0 7 * * *", "report": "overview", "email": {"to": ["ana@example.com"], "attach": ["csv"]}},
        tmp_path / "daily.yaml",
    )
    outcome = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env())
    assert outcome.sent == ["ana@example.com"]
    message = smtp_server.handler.parsed()
    (attachment,) = [p for p in message.iter_attachments() if p.get_filename() == "hostile.csv"]
    check(attachment.get_content() if isinstance(attachment.get_content(), str) else attachment.get_content().decode())
