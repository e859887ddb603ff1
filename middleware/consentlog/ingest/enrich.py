"""Turning a batch of raw events into an Arrow table, off the request path.

User agents become browser / OS / device families (parsed by ua-parser, cached), IPs
become prefixes, referrers lose what consent does not allow, query strings give UTM tags.
Work is column-wise: the batch is transposed once, and each derived column is computed
once per *distinct* input value (a batch has few distinct user agents, referrers, IPs).

``Enricher.tables`` isolates bad events: an event holding a string no row may hold
(``events.unsafe_text``), or one the enrichment fails on, is left out and counted, and
the rest of its batch becomes rows. ``Enricher.for_disk`` is what the writer spools
instead of a batch: user agents reduced to their families and IPs to their prefixes, so
a spool file holds no more than the tables would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import structlog

from consentlog.ingest.bots import DATACENTRE, NO_DATACENTRES, Ranges
from consentlog.ingest.columns import (
    DICT,
    Distinct,
    bot_columns,
    campaign_columns,
    country_column,
    datacentre_column,
    ip_prefixes,
    seen_table,
    timestamps,
)
from consentlog.ingest.events import (
    BrowserCheck,
    ConsentRecord,
    Engagement,
    Goal,
    PageRequest,
    UnsafeEvents,
    page_view_ids,
    refuse_unsafe,
    unsafe_text,
)
from consentlog.ingest.geo import Countries
from consentlog.ingest.parsing import (
    Campaign,
    agent,
    campaign_tags,
    ip_prefix,
    reduced_agent,
    referrer_parts,
)
from consentlog.ingest.spool import Batch

log = structlog.get_logger("consentlog.ingest.enrich")
CONSENT_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("consent_id", pa.string()),
        ("action", pa.string()), ("categories", pa.list_(pa.string())),
        ("policy_revision", pa.uint32()), ("source", pa.string()),
        ("visitor_id", pa.string()), ("ip_prefix", pa.string()), ("browser", pa.string()),
        ("banner_revision", pa.string()),
    ]
)  # fmt: skip


ENGAGEMENT_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("pageview_id", pa.string()),
        ("visitor_id", pa.string()), ("session_id", pa.string()), ("host", pa.string()),
        ("path", pa.string()), ("engaged_ms", pa.uint32()), ("scroll_pct", pa.uint8()),
        ("useful", pa.bool_()),
    ]
)  # fmt: skip


GOAL_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("name", pa.string()), ("kind", pa.string()),
        ("host", pa.string()), ("path", pa.string()), ("pageview_id", pa.string()),
        ("method", pa.string()), ("status", pa.uint16()), ("consent_state", pa.string()),
        ("visitor_id", pa.string()), ("session_id", pa.string()), ("browser", pa.string()),
        ("is_bot", pa.bool_()), ("props", pa.map_(pa.string(), pa.string())),
    ]
)  # fmt: skip


CHECK_SCHEMA = pa.schema([("ts", pa.timestamp("ms", tz="UTC")), ("pageview_id", pa.string())])


E = TypeVar("E", PageRequest, ConsentRecord, Engagement, Goal, BrowserCheck)
R = TypeVar("R", PageRequest, ConsentRecord)  # the events with a user agent and an IP


class Rows(NamedTuple):
    """The Arrow tables of a batch (table name → rows) and how many events were left out."""

    tables: dict[str, pa.Table]
    rejected: int


def _sound(event: tuple[Any, ...], keyed: bool) -> bool:
    """False if a string of ``event`` (or of its tuple fields) is one no row may hold, or
    (``keyed``: its second field is a page-view id) its page-view id is not one."""
    if keyed and not page_view_ids(event[1:2]):
        return False
    for value in event:
        if isinstance(value, tuple):  # consent categories, or a goal's (name, value) pairs
            texts = [v for item in value for v in (item if isinstance(item, tuple) else (item,))]
            if not all(isinstance(v, str) and not unsafe_text(v) for v in texts):
                return False
        elif isinstance(value, str) and unsafe_text(value):
            return False
    return True


def _resolve(batch: Batch, countries: Countries, datacentres: Ranges) -> int:
    """Make ``batch``'s raw pages ``PageRequest`` events one by one, leaving out (and
    counting) any that cannot be made one."""
    total = len(batch)
    batch.pages, batch.seen = batch.resolved(countries.decided, datacentres).pages, []
    return total - len(batch)


def _buildable(build: Callable[[list[E]], pa.Table], events: list[E]) -> list[E]:
    """The events ``build`` succeeds on, found by halving: a few bad events among
    thousands cost a few dozen builds, not one per event."""
    if not events:
        return []
    try:
        build(events)
    except Exception:
        if len(events) == 1:
            return []
        middle = len(events) // 2
        return _buildable(build, events[:middle]) + _buildable(build, events[middle:])
    return events


def _table(columns: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """An Arrow table of ``schema`` from Python sequences (or ready Arrow arrays)."""
    arrays = [
        c if isinstance(c, pa.Array) else pa.array(c, f.type)
        for c, f in zip(columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


class Enricher:
    """Builds the Arrow tables for ``page_requests``, ``consent_records`` and ``engagements``."""

    def __init__(
        self,
        *,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 48,
        host_aliases: Mapping[str, str] | None = None,
        countries: Countries | None = None,
        datacentres: Ranges = NO_DATACENTRES,
    ) -> None:
        self._datacentres = datacentres
        self._v4 = ipv4_prefix
        self._v6 = ipv6_prefix
        self._aliases = dict(host_aliases or {})  # alias host → the host stored instead
        self._countries = countries or Countries()  # no database: countries from a header

    def _prefix(self, ip: str) -> str:
        return ip_prefix(ip, self._v4, self._v6)

    def _prefixes(self, ips: Sequence[str]) -> pa.Array:
        return ip_prefixes(ips, self._v4, self._v6)

    def for_disk(self, batch: Batch) -> tuple[Batch, int]:
        """``batch`` as a spool file may keep it, and how many events were left out: user
        agents reduced to their families, IPs to their prefixes (a page's country worked
        out first, from the full IP, and whether it came from a data centre). An event
        whose agent is unsafe is left out here (its rows would be refused anyway)."""
        total = len(batch)
        batch = batch.resolved(self._countries.decided, self._datacentres)
        agents: dict[str, str] = {}
        prefixes: dict[str, str] = {}

        def reduce(event: R) -> R | None:
            ua, ip = event.user_agent, event.client_ip
            if unsafe_text(ua):  # an IP is never kept as text: one that is no IP has no prefix
                return None
            if ua not in agents:
                agents[ua] = reduced_agent(ua)
            if ip not in prefixes:
                prefixes[ip] = self._prefix(ip)
            return event._replace(user_agent=agents[ua], client_ip=prefixes[ip])

        def located(page: PageRequest) -> PageRequest:
            ip = page.client_ip
            in_datacentre = not page.bot_signal and self._datacentres(ip)
            return page._replace(
                country=self._countries.decided(ip, page.country),
                bot_signal=DATACENTRE if in_datacentre else page.bot_signal,
            )

        def reduce_goal(goal: Goal) -> Goal | None:
            ua = goal.user_agent
            if unsafe_text(ua):
                return None
            if ua not in agents:
                agents[ua] = reduced_agent(ua)
            in_datacentre = not goal.bot_signal and self._datacentres(goal.client_ip)
            return goal._replace(
                user_agent=agents[ua],
                bot_signal=DATACENTRE if in_datacentre else goal.bot_signal,
                client_ip="",  # the address was only ever for that check
            )

        pages = [r for r in map(reduce, map(located, batch.pages)) if r is not None]
        consents = [r for r in map(reduce, batch.consents) if r is not None]
        goals = [g for g in map(reduce_goal, batch.goals) if g is not None]
        kept = Batch(
            batch.token, pages, consents, list(batch.engagements), goals, list(batch.checks)
        )
        return kept, total - len(kept)

    def tables(self, batch: Batch) -> Rows:
        """The rows of ``batch`` for each table, leaving out (and counting) the events
        that hold unsafe strings or that cannot become rows. Those are removed from
        ``batch`` too, so that spooling or replaying it again neither keeps nor counts
        them twice."""
        tables: dict[str, pa.Table] = {}
        rejected = 0
        if batch.seen:  # the request path's raw pages, column by column
            try:
                tables["page_requests"] = self._seen_table(batch)
            except Exception as exc:  # one event spoils the columns: find it the slow way
                log.warning("raw_pages_one_by_one", error=type(exc).__name__)
                rejected += _resolve(batch, self._countries, self._datacentres)
        for name, events, build, keyed in (
            ("page_requests", batch.pages, self.page_table, True),
            ("consent_records", batch.consents, self.consent_table, False),
            ("engagements", batch.engagements, self.engagement_table, True),
            ("goals", batch.goals, self.goal_table, False),
            ("browser_checks", batch.checks, self.check_table, True),
        ):
            if name in tables:
                continue
            kept: list[Any] = events
            try:
                table = build(kept) if kept else None
            except Exception:
                kept = _buildable(build, [e for e in kept if _sound(e, keyed)])
                table = build(kept) if kept else None
            rejected += len(events) - len(kept)
            events[:] = kept
            if table is not None:
                tables[name] = table
        if self._aliases:
            for name, table in tables.items():
                if "host" in table.column_names:
                    tables[name] = self._canonical(table)
        return Rows(tables, rejected)

    def canonical(self, host: str) -> str:
        """The host ``host`` is stored under (itself, unless ``host_aliases`` names it)."""
        return self._aliases.get(host, host)

    def _canonical(self, table: pa.Table) -> pa.Table:
        """``table`` with each alias host replaced by its canonical host."""
        at = table.column_names.index("host")
        column = table.column(at).combine_chunks()
        aliases = self._aliases
        hosts = Distinct(column).derive_dict(lambda host: aliases.get(host, host))
        if not pa.types.is_dictionary(column.type):
            hosts = hosts.dictionary_decode()
        return table.set_column(at, table.field(at), hosts)

    def _seen_table(self, batch: Batch) -> pa.Table:
        """The ``page_requests`` rows of a batch's raw pages and its ``PageRequest``s."""
        table = seen_table(
            batch.seen, self._v4, self._v6, self._countries, self.canonical, self._datacentres
        )
        if batch.pages:  # replayed pages first, as they were queued
            both = pa.concat_tables([self.page_table(batch.pages), table])
            return both.unify_dictionaries().combine_chunks()  # one dictionary a column
        return table

    def page_table(self, events: Sequence[PageRequest]) -> pa.Table:
        """The ``page_requests`` rows of a batch."""
        return self.page_columns(tuple(zip(*events, strict=True)))

    def page_columns(self, columns: Sequence[Sequence[Any]]) -> pa.Table:
        """The ``page_requests`` rows of ``PageRequest`` columns.

        Consent is enforced here a second time: a row that is not 'granted' keeps no
        identifier, no IP prefix and no referrer path, whatever the event carried.
        """
        (ts, pageview_id, host, path, route, method, status, response_bytes, duration_ms,
         referrer, query, user_agent, language, consent_state, visitor_id, session_id,
         client_ip, consented_copy, country, bot_signal) = columns  # fmt: skip
        # the client IP is not among them: it is stored only as its prefix, '' for no IP
        refuse_unsafe((host, path, route, method, referrer, query, user_agent, language,
                       consent_state, visitor_id, session_id), pageview_id)  # fmt: skip
        states = pa.array(consent_state, pa.string())
        granted = pc.equal(states, "granted")
        browser, os_family, device, agent_bot = Distinct(user_agent).derive(agent, 4)
        referrers = Distinct(referrer)
        [referrer_host] = referrers.derive(lambda r: referrer_parts(r)[:1], 1)
        campaign = Campaign(*Distinct(query).derive(campaign_tags, len(Campaign._fields)))
        hosts = pa.array(host, DICT)

        def only_granted(values: Sequence[str]) -> pa.Array:
            return pc.if_else(granted, pa.array(values, pa.string()), "")

        arrays = {
            "ts": timestamps(ts),
            "pageview_id": pa.array(pageview_id, pa.string()),
            "host": hosts,
            "path": pa.array(path, pa.string()),
            "route": pa.array(route, DICT),
            "method": pa.array(method, DICT),
            "status": pa.array(status, pa.uint16()),
            "response_bytes": pa.array(response_bytes, pa.uint64()),
            "duration_ms": pa.array(duration_ms, pa.float32()),
            "referrer_host": referrer_host,
            "referrer_path": referrers.masked(lambda r: referrer_parts(r)[1], granted),
            "utm_source": campaign.source,
            "utm_medium": campaign.medium,
            "utm_campaign": campaign.campaign,
            "browser": browser,
            "os": os_family,
            "device": device,
            # a replayed page's data-centre signal was worked out before its IP was cut
            **bot_columns(
                agent_bot,
                pa.array(bot_signal, pa.string()),
                datacentre_column(client_ip, self._datacentres),
            ),
            "language": pa.array(language, DICT),
            "consent_state": states.dictionary_encode(),
            "visitor_id": only_granted(visitor_id),
            "session_id": only_granted(session_id),
            "ip_prefix": pc.if_else(granted, self._prefixes(client_ip), ""),
            "consented_copy": pa.array(consented_copy, pa.bool_()),
            # a replayed page's country was derived before its IP was cut (for_disk)
            "country": country_column(client_ip, country, self._countries),
            **campaign_columns(campaign, hosts, referrer_host, self.canonical),
        }
        return pa.table(arrays)

    def engagement_table(self, events: Sequence[Engagement]) -> pa.Table:
        """The ``engagements`` rows of a batch (already validated by the beacon route)."""
        ts, pageview_id, *rest = zip(*events, strict=True)
        refuse_unsafe(rest[:4], pageview_id)  # visitor_id, session_id, host, path
        columns = [timestamps(ts), pageview_id, *rest]
        return _table(columns, ENGAGEMENT_SCHEMA)

    def goal_table(self, events: Sequence[Goal]) -> pa.Table:
        """The ``goals`` rows of a batch: ids only with consent, the agent as its family, a
        bot's by the signals a page has (``bots.py``); the client's address is not kept."""
        (ts, name, kind, host, path, pageview_id, method, status, consent_state, visitor_id,
         session_id, user_agent, props, bot_signal,
         client_ip) = zip(*events, strict=True)  # fmt: skip
        refuse_unsafe((name, kind, host, path, pageview_id, method, consent_state, visitor_id,
                       session_id, user_agent,
                       *([k, v] for pairs in props for k, v in pairs)))  # fmt: skip
        if any(pageview_id) and not page_view_ids([p for p in pageview_id if p]):
            raise UnsafeEvents("a goal's page-view id is not a UUID")
        states = pa.array(consent_state, pa.string())
        granted = pc.equal(states, "granted")
        browser, _, _, bot = Distinct(user_agent).derive(agent, 4)
        columns = [
            timestamps(ts), name, kind, host, path, pageview_id, method, status, states,
            pc.if_else(granted, pa.array(visitor_id, pa.string()), ""),
            pc.if_else(granted, pa.array(session_id, pa.string()), ""),
            browser.dictionary_decode(),
            bot_columns(bot, pa.array(bot_signal, pa.string()),
                        datacentre_column(client_ip, self._datacentres))["is_bot"],
            [list(pairs) for pairs in props],
        ]  # fmt: skip
        return _table(columns, GOAL_SCHEMA)

    def check_table(self, events: Sequence[BrowserCheck]) -> pa.Table:
        """The ``browser_checks`` rows of a batch: a time and a page-view id each."""
        ts, pageview_id = zip(*events, strict=True)
        refuse_unsafe((), pageview_id)
        return _table([timestamps(ts), pageview_id], CHECK_SCHEMA)

    def consent_table(self, events: Sequence[ConsentRecord]) -> pa.Table:
        """The ``consent_records`` rows of a batch."""
        (ts, consent_id, action, categories, policy_revision, source, visitor_id, client_ip,
         user_agent, revision) = zip(*events, strict=True)  # fmt: skip
        refuse_unsafe((consent_id, action, source, visitor_id, user_agent, revision,
                       *categories))  # fmt: skip
        columns = [
            timestamps(ts), consent_id, action, [list(c) for c in categories],
            policy_revision, source, visitor_id, [self._prefix(ip) for ip in client_ip],
            [agent(ua)[0] for ua in user_agent], revision,
        ]  # fmt: skip
        return _table(columns, CONSENT_SCHEMA)
