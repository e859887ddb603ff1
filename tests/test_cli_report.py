"""`consentlog report` in-process on the session's store: several sites are told apart."""

from __future__ import annotations

import datetime
import json
import time
import uuid

import pytest

from consentlog.cli import main
from consentlog.ingest.events import BrowserCheck, Goal, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store

DAY = datetime.date(2026, 11, 20)
HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def _view(host: str, path: str, country: str = "") -> PageRequest:
    ts = time.mktime((DAY.year, DAY.month, DAY.day, 9, 0, 0, 0, 0, 0)) - time.timezone
    return PageRequest(
        ts, uuid.uuid4().hex, host, path, "", "GET", 200, 100, 1.0, "", "", HUMAN, "en",
        "unknown", "", "", "", False, country,
    )  # fmt: skip


def test_report_groups_by_host_without_default_ports(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With pages of two sites, each row names its host, a default port left out."""
    writer = Writer(store, database=database, flush_interval=0.05)
    for event in (_view("example.org:443", "/a"), _view("docs.example", "/b")):
        writer.submit(event)
    assert writer.stop(30)
    code = main(["report", "--clickhouse-url", store_url, "--database", database,
                 "--start", str(DAY), "--end", str(DAY)])  # fmt: skip
    assert 0 == code
    out = capsys.readouterr().out.splitlines()
    table = out[next(i for i, line in enumerate(out) if line.startswith("Page usefulness")) + 1 :]
    assert ["host", "path"] == table[0].split()[:2]
    assert [["docs.example", "/b"], ["example.org", "/a"]] == [r.split()[:2] for r in table[1:]]


def test_report_by_country_in_the_terminal_and_as_json(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = Writer(store, database=database, flush_interval=0.05)
    for country in ("DE", "DE", "GB", ""):
        writer.submit(_view("example.org", "/a", country))
    assert writer.stop(30)
    args = ["report", "--by", "country", "--clickhouse-url", store_url, "--database", database,
            "--start", str(DAY), "--end", str(DAY)]  # fmt: skip
    assert 0 == main(args)
    out = capsys.readouterr().out.splitlines()
    table = out[next(i for i, line in enumerate(out) if line.startswith("Human views")) + 1 :]
    assert ["country", "code", "views", "share"] == table[0].split()[:4]
    assert [["Germany", "DE", "2", "50%"], ["Unknown", "–", "1", "25%"]] == [
        r.split()[:4] for r in table[1:3]
    ]  # ties: by code, so unknown ('') first
    assert table[3].split()[:4] == ["Britain", "(UK)", "GB", "1"]
    assert 0 == main([*args, "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert [("DE", "Germany", 2), ("", "Unknown", 1), ("GB", "Britain (UK)", 1)] == [
        (r["country"], r["name"], r["views"]) for r in rows
    ]


def test_report_by_channel_source_and_campaign(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = Writer(store, database=database, flush_interval=0.05)
    arrivals = [
        ("https://www.google.com", ""), ("https://www.google.com", ""), ("", ""),
        ("https://www.google.com", "gclid=&utm_campaign=brand"), ("https://example.org", ""),
    ]  # fmt: skip
    for referrer, query in arrivals:
        writer.submit(_view("example.org", "/a")._replace(referrer=referrer, query=query))
    assert writer.stop(30)
    base = ["report", "--clickhouse-url", store_url, "--database", database,
            "--start", str(DAY), "--end", str(DAY), "--json"]  # fmt: skip
    assert 0 == main([*base, "--by", "channel"])
    channels = json.loads(capsys.readouterr().out)
    assert [("search", 2), ("campaign", 1), ("direct", 1)] == [
        (c["channel"], c["views"]) for c in channels
    ]  # the internal view is no arrival
    assert 0 == main([*base, "--by", "source"])
    sources = json.loads(capsys.readouterr().out)
    assert [
        ("www.google.com", "search", 2),
        ("", "direct", 1),
        ("www.google.com", "campaign", 1),
    ] == [(s["source"], s["channel"], s["views"]) for s in sources]
    assert 0 == main([*base, "--by", "campaign"])
    [campaign] = json.loads(capsys.readouterr().out)
    assert ("brand", 1, 1) == (campaign["campaign"], campaign["views"], campaign["ad_clicks"])
    assert 0 == main([*base[:-1], "--by", "source"])
    assert "Arrivals by source" in capsys.readouterr().out


def test_report_by_goal(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = Writer(store, database=database, flush_interval=0.05)
    view = _view("example.org", "/pricing")._replace(
        consent_state="granted", visitor_id="v" * 22, session_id="s" * 22
    )
    writer.submit(view)
    writer.submit(Goal(view.ts + 1, "signup", "server", "example.org", "/signup", "", "POST",
                       303, "granted", "v" * 22, "s" * 22, HUMAN))  # fmt: skip
    writer.submit(Goal(view.ts + 2, "signup", "server", "example.org", "/signup", "", "POST",
                       303, "unknown", "", "", HUMAN))  # fmt: skip
    assert writer.stop(30)
    base = ["report", "--by", "goal", "--clickhouse-url", store_url, "--database", database,
            "--start", str(DAY), "--end", str(DAY)]  # fmt: skip
    assert 0 == main([*base, "--json"])
    [goal] = json.loads(capsys.readouterr().out)
    assert ("signup", 2, 1, 1, 1.0) == (
        goal["name"], goal["conversions"], goal["sessions"], goal["anonymous_conversions"],
        goal["conversion_rate"],
    )  # fmt: skip
    assert 0 == main(base)
    out = capsys.readouterr().out
    assert "Goals" in out
    assert "100%" in out


def test_report_by_funnel(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    writer = Writer(store, database=database, flush_interval=0.05)
    for i, session in enumerate(("s" * 22, "t" * 22)):
        for k, path in enumerate(("/", "/pricing")[: i + 1]):
            view = _view("example.org", path)._replace(
                ts=_view("example.org", path).ts + k, consent_state="granted",
                visitor_id=session, session_id=session,
            )  # fmt: skip
            writer.submit(view)
    assert writer.stop(30)
    base = ["report", "--by", "funnel", "--clickhouse-url", store_url, "--database", database,
            "--start", str(DAY), "--end", str(DAY)]  # fmt: skip
    monkeypatch.delenv("CONSENTLOG_FUNNELS", raising=False)
    assert 1 == main(base)  # none configured: an error that says how to configure one
    assert "CONSENTLOG_FUNNELS" in capsys.readouterr().err
    monkeypatch.setenv("CONSENTLOG_FUNNELS", "buy=/ > /pricing")
    assert 0 == main([*base, "--json"])
    [funnel] = json.loads(capsys.readouterr().out)
    assert ("buy", [2, 1]) == (funnel["name"], [s["sessions"] for s in funnel["steps"]])
    assert 0 == main(base)
    assert "50%" in capsys.readouterr().out


def test_report_by_bot_and_verified(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--by bot``: requests by signal, people's first, with how many were verified;
    ``--by verified``: each page's human views and verified browser views."""
    writer = Writer(store, database=database, flush_interval=0.05)
    checked = _view("example.org", "/a")
    writer.submit(checked)
    writer.submit(_view("example.org", "/a"))
    writer.submit(_view("example.org", "/a")._replace(user_agent="curl/8.5.0"))
    writer.submit(_view("example.org", "/b")._replace(bot_signal="headers"))
    writer.submit(BrowserCheck(checked.ts + 1, checked.pageview_id))
    assert writer.stop(30)
    capsys.readouterr()  # the writer's log
    base = ["report", "--clickhouse-url", store_url, "--database", database,
            "--start", str(DAY), "--end", str(DAY)]  # fmt: skip
    assert 0 == main([*base, "--by", "bot", "--json"])
    signals = json.loads(capsys.readouterr().out)
    assert [("", "People (no signal)", 2, 1), ("headers", "Lacks browser headers", 1, 0),
            ("list", "On the crawler list", 1, 0)] == [
        (s["signal"], s["label"], s["requests"], s["verified"]) for s in signals
    ]  # fmt: skip
    assert 0 == main([*base, "--by", "verified", "--json"])
    [page] = json.loads(capsys.readouterr().out)
    assert ("/a", 2, 1) == (page["path"], page["views"], page["verified_views"])
    assert 0 == main([*base, "--by", "bot"])
    table = capsys.readouterr().out.splitlines()
    assert "Page requests by bot signal" in table[0]
    assert table[2].split()[:6] == ["People", "(no", "signal)", "2", "50%", "50%"]
