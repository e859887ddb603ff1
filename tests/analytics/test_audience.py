"""Differential tests of the audience reports — countries, channels, sources, campaigns —
against an independent computation in Python over the raw events of the generated data
set."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import pytest

from consentlog.analytics import reports
from consentlog.ingest.channels import channel
from consentlog.ingest.events import Engagement, PageRequest
from consentlog.ingest.geo import country_code
from consentlog.ingest.parsing import campaign_tags, referrer_parts
from consentlog.ingest.writer import Writer
from consentlog.settings import FunnelRule, funnel_rule
from consentlog.store import Store
from tests.helpers import BOT, DAY, generate, generate_goals


@pytest.fixture(scope="module")
def loaded(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[PageRequest], list[Engagement]]:
    database = "audience_differential"
    store.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    pages, engagements = generate()
    writer = Writer(
        store, database=database, spool_dir=tmp_path_factory.mktemp("spool"),
        batch_size=5000, flush_interval=0.05,
    )  # fmt: skip
    for event in [*pages, *engagements]:
        writer.submit(event)
    assert writer.stop(60)
    return database, pages, engagements


def _human_views(pages: list[PageRequest], path: str = "") -> list[PageRequest]:
    return [
        p for p in pages
        if p.user_agent != BOT and not p.consented_copy and (not path or p.path == path)
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["", "/pricing"])
def test_countries_equal_an_independent_count(store: Store, loaded: Any, path: str) -> None:
    database, pages, _ = loaded
    views: Counter[str] = Counter()
    anonymous: Counter[str] = Counter()
    visitors: dict[str, set[str]] = defaultdict(set)
    for p in _human_views(pages, path):
        code = country_code(p.country)  # the CDN header as the writer keeps it
        views[code] += 1
        anonymous[code] += p.consent_state != "granted"
        if p.visitor_id:
            visitors[code].add(p.visitor_id)
    want = sorted(
        (reports.Country(c, n, len(visitors[c]), anonymous[c]) for c, n in views.items()),
        key=lambda r: (-r.views, r.country),
    )
    assert "" in views
    assert "DE" in views
    assert want == reports.countries(store, database, DAY, DAY, path=path)
    assert want[:2] == reports.countries(store, database, DAY, DAY, path=path, limit=2)


def _arrivals(pages: list[PageRequest]) -> list[tuple[PageRequest, str, Any]]:
    """Human rows from outside the site (consented copies too: they count for visitors and
    sessions, not views), each with its channel and campaign tags."""
    found = []
    for p in pages:
        if p.user_agent == BOT:
            continue
        tags = campaign_tags(p.query)
        referrer = referrer_parts(p.referrer)[0]
        kind = channel(p.host, referrer, *tags[:3], tags.ref, tags.click_id)
        if kind != "internal":
            found.append((p, kind, (tags, referrer)))
    return found


def _tally(rows: list[tuple[Any, PageRequest]]) -> dict[Any, tuple[int, int, int, int]]:
    """views, consented visitors, consented sessions, anonymous views per key."""
    views: Counter[Any] = Counter()
    anonymous: Counter[Any] = Counter()
    visitors: dict[Any, set[str]] = defaultdict(set)
    sessions: dict[Any, set[str]] = defaultdict(set)
    for key, p in rows:
        views[key] += not p.consented_copy
        anonymous[key] += not p.consented_copy and p.consent_state != "granted"
        if p.visitor_id:
            visitors[key].add(p.visitor_id)
            sessions[key].add(p.session_id)
    return {k: (n, len(visitors[k]), len(sessions[k]), anonymous[k]) for k, n in views.items()}


def test_channels_and_sources_equal_an_independent_count(store: Store, loaded: Any) -> None:
    database, pages, _ = loaded
    arrivals = _arrivals(pages)
    by_channel = _tally([(kind, p) for p, kind, _ in arrivals])
    tagged = Counter(k for p, k, (t, _) in arrivals if any(t) and not p.consented_copy)
    clicks = Counter(k for p, k, (t, _) in arrivals if t.click_id and not p.consented_copy)
    want = sorted(
        (reports.ChannelCount(k, *v, tagged[k], clicks[k]) for k, v in by_channel.items()),
        key=lambda r: (-r.views, r.channel),
    )
    assert {"direct", "search", "social", "email", "campaign", "referral"} == set(by_channel)
    assert want == reports.channels(store, database, DAY, DAY)

    by_source = _tally(
        [((tags.source or tags.ref or referrer, kind), p) for p, kind, (tags, referrer) in arrivals]
    )
    want_sources = sorted(
        (reports.Source(s, k, n, v, a) for (s, k), (n, v, _, a) in by_source.items()),
        key=lambda r: (-r.views, r.source, r.channel),
    )
    assert want_sources == reports.sources(store, database, DAY, DAY)


def test_campaigns_equal_an_independent_count(store: Store, loaded: Any) -> None:
    database, pages, _ = loaded
    tagged = [(p, tags) for p, _, (tags, _) in _arrivals(pages) if any(tags)]
    groups: dict[tuple[str, str, str], list[tuple[PageRequest, Any]]] = defaultdict(list)
    for p, tags in tagged:
        groups[(tags.campaign, tags.source or tags.ref, tags.medium)].append((p, tags))
    want = sorted(
        (
            reports.Campaign(
                *key,
                sum(not p.consented_copy for p, _ in rows),
                len({p.visitor_id for p, _ in rows if p.visitor_id}),
                sum(1 for p, t in rows if t.click_id and not p.consented_copy),
                sum(1 for p, t in rows if t.term and not p.consented_copy),
                sum(1 for p, t in rows if t.content and not p.consented_copy),
            )
            for key, rows in groups.items()
        ),
        key=lambda r: (-r.views, r.campaign, r.source, r.medium),
    )
    assert want == reports.campaigns(store, database, DAY, DAY)
    terms = _tally([((t.campaign, t.term, t.content), p) for p, t in tagged if t.term or t.content])
    want_terms = sorted(
        (reports.CampaignTerm(*key, n, v) for key, (n, v, _, _) in terms.items()),
        key=lambda r: (-r.views, r.campaign, r.term, r.content),
    )
    assert want_terms == reports.campaign_terms(store, database, DAY, DAY)


def test_goals_equal_an_independent_count(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    database = "goals_differential"
    store.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    pages, _ = generate()
    goals = generate_goals(pages)
    writer = Writer(store, database=database, spool_dir=tmp_path_factory.mktemp("goals"),
                    flush_interval=0.05)  # fmt: skip
    for event in [*pages, *goals]:
        writer.submit(event)
    assert writer.stop(60)
    humans = [g for g in goals if g.user_agent != BOT]
    all_sessions = {p.session_id for p in pages if p.session_id and p.user_agent != BOT}
    want = []
    for name in {g.name for g in humans}:
        mine = [g for g in humans if g.name == name]
        sessions = {g.session_id for g in mine if g.session_id}
        want.append(reports.GoalCount(
            name, len(mine), sum(g.kind == "server" for g in mine),
            sum(g.kind == "client" for g in mine),
            sum(g.consent_state != "granted" for g in mine),
            len({g.visitor_id for g in mine if g.visitor_id}), len(sessions),
            len(sessions) / len(all_sessions),
        ))  # fmt: skip
    want.sort(key=lambda r: (-r.conversions, r.name))
    assert want == reports.goals(store, database, DAY, DAY)
    props = Counter((g.name, k, v) for g in humans for k, v in g.props)
    assert sorted(
        (reports.GoalProperty(*key, n) for key, n in props.items()),
        key=lambda r: (-r.conversions, r.name, r.property, r.value),
    ) == reports.goal_properties(store, database, DAY, DAY)


FUNNELS = [
    "buy=/ > /pricing > goal:signup",
    "read=/docs/* > goal:signup",
    "later=goal:download > /pricing > /docs/{page}",
]


def _level(events: list[tuple[float, str, str]], rule: FunnelRule) -> int:
    """How many of ``rule``'s steps a session took in order (greedy: the earliest match)."""
    level = 0
    for _, page, goal in sorted(events):
        if level == len(rule.steps):
            break
        step = rule.steps[level]
        hit = re.fullmatch(step.pattern.strip("^$"), page) if step.kind == "page" and page else (
            step.kind == "goal" and goal == step.pattern
        )  # fmt: skip
        level += bool(hit)
    return level


@pytest.mark.parametrize("text", FUNNELS)
def test_a_funnel_equals_an_independent_count(
    store: Store, tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    database = "funnels_differential"
    pages, _ = generate()
    goals = generate_goals(pages)
    _, [(exists,)] = store.query(
        "SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database}
    )
    if not exists:
        writer = Writer(store, database=database, spool_dir=tmp_path_factory.mktemp("funnel"),
                        flush_interval=0.05)  # fmt: skip
        for event in [*pages, *goals]:
            writer.submit(event)
        assert writer.stop(60)
    rule = funnel_rule(text)
    sessions: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for p in pages:
        if p.session_id and p.user_agent != BOT:
            sessions[p.session_id].append((p.ts, p.path, ""))
    for g in goals:
        if g.session_id and g.user_agent != BOT:
            sessions[g.session_id].append((g.ts, "", g.name))
    levels = [_level(events, rule) for events in sessions.values()]
    want = [sum(level >= k for level in levels) for k in range(1, len(rule.steps) + 1)]
    report = reports.funnel(store, database, DAY, DAY, rule)
    assert want == [s.sessions for s in report.steps]
    assert want[1] > 0
    assert [s.label for s in rule.steps] == [s.label for s in report.steps]
    assert report.steps[1].of_previous == pytest.approx(want[1] / want[0])
    assert report.steps[-1].of_first == pytest.approx(want[-1] / want[0])
