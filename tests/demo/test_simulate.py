"""`consentlog demo --simulate N`: the visitor plan, and the report after a real run."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from consentlog.demo.app import DEMO_FUNNELS
from consentlog.demo.simulate import PROFILES, client_url, plan_visitors
from consentlog.ingest.parsing import agent
from tests.helpers import cli_env, free_port

CLI = [sys.executable, "-m", "consentlog.cli"]
USEFUL = {
    "/docs/getting-started",
    "/docs/configuration",
    "/docs/api",
    "/docs/faq",
    "/blog/status-page-failure-domains",
    "/blog/writing-incident-updates",
}
USELESS = "/blog/larkspur-2-3"


def test_plan_is_deterministic_by_seed() -> None:
    """The same seed plans the same visitors; another seed plans others."""
    assert plan_visitors(60, seed=7) == plan_visitors(60, seed=7)
    assert plan_visitors(60, seed=7) != plan_visitors(60, seed=8)
    assert [] == plan_visitors(0)
    with pytest.raises(ValueError, match="≥ 0"):
        plan_visitors(-1)


def test_plan_is_plausible() -> None:
    """1-5 known pages per visit, utm only on the entry page, bots never decide, and the
    useful pages are read far longer than the useless one."""
    plans = plan_visitors(1000, seed=3)
    for plan in plans:
        assert 1 <= len(plan.pages) <= 5
        assert all(visit.path in PROFILES for visit in plan.pages)
        assert all(not visit.query for visit in plan.pages[1:])
        if plan.bot:  # each marked by a signal: its agent, the crawler list, its headers
            assert "none" == plan.consent
            assert agent(plan.user_agent)[3] or not plan.language
    humans = [p for p in plans if not p.bot]
    accepting = sum(p.consent in {"returning", "accept"} for p in humans) / len(humans)
    assert 0.55 < accepting < 0.75
    assert any(p.pages[0].query.startswith("utm_source=") for p in humans)
    assert {None, "https://www.google.com/"} <= {p.referrer for p in humans}

    def median_ms(paths: set[str]) -> int:
        times = sorted(v.engaged_ms for p in humans for v in p.pages if v.path in paths)
        return times[len(times) // 2]

    assert median_ms(USEFUL) > 30_000 > 5_000 > median_ms({USELESS})


def test_client_url() -> None:
    """A server bound to every interface is reached over loopback."""
    assert "http://127.0.0.1:8000" == client_url("0.0.0.0", 8000)
    assert "http://[::1]:8000" == client_url("::", 8000)
    assert "http://localhost:9" == client_url("localhost", 9)


def _lines(stream: IO[str]) -> queue.Queue[str]:
    """The lines of ``stream``, read by a thread, as they come."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for_summary(lines: queue.Queue[str], timeout: float) -> tuple[str, list[str]]:
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if "simulated " in line:
            return line, seen
    raise AssertionError(f"no summary line within {timeout} s: {seen}")


@pytest.mark.slow
def test_demo_simulate_ranks_useful_pages_on_top(tmp_path: Path) -> None:
    """`demo --simulate 200`, then `report --json`: the pages designed useful score
    highest, /blog/larkspur-2-3 lowest."""
    port = free_port()
    demo = subprocess.Popen(
        [*CLI, "demo", "--simulate", "200", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert demo.stdout is not None
        lines = _lines(demo.stdout)
        summary, _ = _wait_for_summary(lines, timeout=60)
        spread_line = lines.get(timeout=60)  # the visits moved over the last 30 days
    finally:
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=30)
    assert demo.returncode in {0, -signal.SIGTERM}, err
    assert summary.rstrip().endswith("; 0 errors"), (summary, err)
    assert "over the last 30 days" in spread_line, (spread_line, err)
    report = subprocess.run(
        [*CLI, "report", "--json"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == report.returncode, report.stderr
    pages: dict[str, dict[str, Any]] = {p["path"]: p for p in json.loads(report.stdout)}
    scores = {path: p["usefulness"] for path, p in pages.items() if p["usefulness"] is not None}
    ranking = sorted(scores, key=scores.__getitem__, reverse=True)
    assert USEFUL <= set(scores), ranking
    assert USEFUL == set(ranking[: len(USEFUL)]), scores
    assert USELESS == ranking[-1], scores
    assert all(scores[path] > scores[USELESS] for path in USEFUL)
    assert pages[USELESS]["votes_no"] > pages[USELESS]["votes_yes"]
    assert pages["/docs/getting-started"]["votes_yes"] > pages["/docs/getting-started"]["votes_no"]
    assert sum(p["bot_views"] for p in pages.values()) > 0

    def by(what: str) -> list[dict[str, Any]]:
        env = {**cli_env(), "CONSENTLOG_FUNNELS": ",".join(DEMO_FUNNELS)}  # the demo's own
        found = subprocess.run(
            [*CLI, "report", "--by", what, "--json"], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert 0 == found.returncode, found.stderr
        rows: list[dict[str, Any]] = json.loads(found.stdout)
        return rows

    # every view of the dashboard has data: goals, countries, sources
    goals = {g["name"]: g for g in by("goal")}
    assert {"trial", "download"} == set(goals)
    assert goals["trial"]["anonymous_conversions"] > 0  # a server goal needs no consent
    assert goals["download"]["client_conversions"] == goals["download"]["conversions"] > 0
    assert any(p["goal_rate"] for p in pages.values())
    assert len(by("country")) > 5
    assert {"direct", "search", "social", "email", "campaign", "referral"} <= {
        c["channel"] for c in by("channel")
    }
    assert any(c["ad_clicks"] for c in by("campaign"))
    days = subprocess.run(
        [*CLI, "sql", "SELECT uniqExact(toDate(ts)) FROM consentlog.page_requests"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert int(days.stdout.split()[-1]) >= 15, days.stdout  # shapes, not one spike today
    funnels = {f["name"]: [s["sessions"] for s in f["steps"]] for f in by("funnel")}
    assert {"trial", "evaluate"} == set(funnels)
    assert all(steps[1] > 0 for steps in funnels.values()), funnels
