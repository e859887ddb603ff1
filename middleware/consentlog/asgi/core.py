"""``ConsentCore``: what every request on the ASGI surface shares, built once.

The middleware, the consent routes, the beacon and the self-service routes are handed
this object — never each other. It holds the settings, the consent-cookie codec, the
cookie writer and filter, page-view tokens, the event sink and the store, the banner and
its assets, and the decisions they all take the same way: which decision governs a
request, how a decision is remembered (``consent_cookie``) and proven (``record_decision``),
and what the banner shows.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from starlette.types import Scope

from consentlog.analytics.schedule import RollupSchedule
from consentlog.asgi.assets import load_asset
from consentlog.asgi.banner import BannerRenderer, BannerState
from consentlog.asgi.consentmode import ConsentModeRenderer
from consentlog.asgi.embeds import Embeds
from consentlog.asgi.plans import Plan, Plans
from consentlog.asgi.regions import Regions
from consentlog.consent.cookies import CookieFilter, CookieWriter
from consentlog.consent.decision import ConsentCodec, Decision
from consentlog.consent.http import header_map, text
from consentlog.consent.pageviews import CheckTokens, PageviewTokens
from consentlog.consent.visit import Identifiers, Visit
from consentlog.ingest.bots import datacentres
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import (
    MAX_COUNTRY,
    MAX_USER_AGENT,
    ConsentRecord,
    ConsentState,
    EventSink,
    safe_text,
)
from consentlog.ingest.geo import Countries
from consentlog.ingest.status import StatusFile
from consentlog.ingest.writer import Hook, Writer
from consentlog.privacy.pending import ErasureHook
from consentlog.privacy.revisions import RevisionsHook, revisions
from consentlog.settings import ANALYTICS, GoalRule, Settings
from consentlog.store import Store, store_for
from consentlog.texts import BannerTexts


def writer_hooks(settings: Settings) -> tuple[Hook, ...]:
    """What runs on a site's writer thread besides the events: the status file for
    ``consentlog status``, the rollup schedule, and erasures kept while the store was down
    (also those an earlier process kept)."""
    return (
        StatusFile(),
        RollupSchedule(settings.rollup_interval),
        ErasureHook(settings.policy_revision),
    )


def writer_for(settings: Settings, store: Store) -> Writer:
    """The background writer ``settings`` describe, with ``writer_hooks`` on its thread."""
    return Writer(
        store,
        database=settings.database,
        spool_dir=Path(settings.spool_dir).resolve() if settings.spool_dir else None,
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
        flush_interval=settings.flush_interval,
        retention_months=settings.retention_months,
        enricher=Enricher(
            ipv4_prefix=settings.ipv4_prefix,
            ipv6_prefix=settings.ipv6_prefix,
            host_aliases=settings.host_alias_map,
            countries=Countries(settings.country_database),
            datacentres=datacentres(
                settings.datacentre_ranges,
                v4_bits=settings.ipv4_prefix,
                v6_bits=settings.ipv6_prefix,
            ),
        ),
        after_cycle=writer_hooks(settings),
    )


class ConsentCore:
    """The shared parts of one mounted consentlog: settings, codec, cookies, tokens, the
    event sink and the store, the banner. ``sink`` replaces the background writer (tests,
    or several middlewares sharing one); a ``Writer`` handed in gets ``writer_hooks``
    unless it has hooks of those kinds already."""

    def __init__(self, settings: Settings, *, sink: EventSink | None = None) -> None:
        settings.check_secret_keys()
        self.settings = s = settings
        self.codec = ConsentCodec(
            s.secret_keys, policy_revision=s.policy_revision, max_age=s.consent_max_age
        )
        self.cookie_writer = CookieWriter(s.cookie_domain)
        self.cookie_filter = CookieFilter(s.categories)
        self.pageviews = PageviewTokens(s.secret_keys)
        self.checks = CheckTokens(s.secret_keys)  # pages without consent: the script ran
        self.browser_headers = frozenset(name.encode("ascii") for name in s.browser_headers)
        self.plans = Plans(s.trusted_proxy_hops)
        self.country_header = s.country_header.encode("ascii")  # b'' for none
        # parsed once, by method: the request path holds each answer to its method's rules
        self.goal_rules: dict[str, tuple[GoalRule, ...]] = {}
        for rule in s.goal_rules:
            self.goal_rules[rule.method] = (*self.goal_rules.get(rule.method, ()), rule)
        if sink is None:
            self.store = store_for(s)
            self.sink: EventSink = writer_for(s, self.store)
        elif isinstance(sink, Writer):
            sink.attach(*writer_hooks(s))
            self.store, self.sink = sink.store, sink
        else:
            self.store, self.sink = store_for(s), sink
        self.script = load_asset("banner.js")
        self.stylesheet = load_asset("banner.css")
        self.texts = s.banner_texts()
        self.languages = frozenset(self.texts)
        # what each language's visitors are shown, by content hash: each record names one
        self.revisions = revisions(s, self.texts)
        if isinstance(self.sink, Writer):
            self.sink.attach(RevisionsHook(self.revisions))
        self.banner = BannerRenderer(s, self.texts, self.script, self.stylesheet)
        self.consent_mode = ConsentModeRenderer(s) if s.consent_mode != "off" else None
        self.regions = Regions(s) if s.banner_regions else None
        self._outside = (
            tuple(c.name for c in s.optional_categories) if s.outside_default == "granted" else ()
        )
        self.embeds = Embeds(s)
        self.embed_assets = (load_asset("embeds.js"), load_asset("embeds.css"))

    def shutdown(self) -> None:
        """The server is stopping (lifespan shutdown): write or spool what is queued, then,
        with a background writer (this core's own or a shared one), give the store up —
        an embedded store's owner finishes its guests' requests and hands the store over
        now. Waiting for ``atexit`` is not enough: uvicorn re-raises the SIGTERM it caught
        once it has shut down, and the process then ends without running ``atexit``.
        Several middlewares on one store each close it after their own flush (a flush
        after another's close opens it again)."""
        self.sink.stop()
        if isinstance(self.sink, Writer):
            self.store.close()

    def visit(self, scope: Scope, headers: dict[bytes, bytes] | None = None) -> Visit:
        """What this request proves about consent (``headers``: its header map, if made)."""
        if headers is None:
            headers = header_map(scope)
        return Visit.read(scope, headers, self.settings, self.codec)

    def country_claim(self, visit: Visit) -> str:
        """The CDN's country header of this request, as sent ('' when none is configured):
        the writer keeps it if it is a country code."""
        header = self.country_header
        return text(visit.headers, header, MAX_COUNTRY) if header else ""

    def effective_decision(self, visit: Visit) -> tuple[Decision | None, bool]:
        """The decision that governs this request, and whether it is new (taken now from
        a GPC / DNT signal, or the default of a region the banner does not ask in:
        ``asgi/regions.py``; so it must be stored and remembered)."""
        if visit.decision is not None:
            return visit.decision, False
        if visit.signal is not None:
            return self.codec.new_decision((), visit.signal, visit.cookie), True
        if self.regions is not None and not self.regions.asks(visit):
            return self.codec.new_decision(self._outside, "region", visit.cookie), True
        return None, False

    def records_signal(self, visit: Visit) -> bool:
        """Whether a decision ``effective_decision`` took from a GPC / DNT signal is
        recorded: once per browser, so the GPC share is a share of browsers.

        The consent cookie is all that tells browsers apart. A browser that sent one
        (stale, expired, not verifying) keeps cookies: its new decision is recorded. A
        browser that sent none is new to the site only on a top-level navigation from
        outside it; a cookieless request following a page of this site (``Sec-Fetch-Site:
        same-origin``, or without that header a ``Referer`` of this origin) comes from a
        browser whose first page set the cookie and was recorded — one that did not keep
        it is not counted again. Embedded frames and fetches (``Sec-Fetch-Dest``) are not
        visits to the site.
        """
        if visit.cookie.present:
            return True
        headers = visit.headers
        destination = text(headers, b"sec-fetch-dest", 32).lower()
        if destination not in {"", "document"}:
            return False
        site = text(headers, b"sec-fetch-site", 32).lower()
        if site:
            return site != "same-origin"
        own = f"{visit.origin.scheme}://{visit.origin.host}"
        referer = text(headers, b"referer", 2048).lower()
        return referer != own and not referer.startswith(own + "/")

    def record_decision(
        self, visit: Visit, decision: Decision, action: str, ids: Identifiers
    ) -> None:
        """Queue the proof of a decision for ``consent_records``."""
        consented = ANALYTICS in decision.accepted
        self.sink.submit(
            ConsentRecord(
                ts=time.time(),
                consent_id=decision.consent_id,
                action=action,
                categories=tuple(sorted(decision.accepted)),
                policy_revision=decision.policy_revision,
                source=decision.source,
                visitor_id=ids.visitor_id if consented else "",
                client_ip=visit.origin.client_ip if consented else "",
                user_agent=safe_text(text(visit.headers, b"user-agent", MAX_USER_AGENT)),
                banner_revision=self.revisions[self.texts_for(visit).tag].revision,
            )
        )

    def consent_cookie(self, visit: Visit, decision: Decision) -> bytes:
        """The ``Set-Cookie`` value that remembers ``decision``."""
        return self.cookie_writer.set(
            self.settings.consent_cookie,
            self.codec.dumps(decision),
            max_age=self.settings.consent_max_age,
            secure=visit.secure(self.settings),
            http_only=True,  # the banner reads the decision from its markup
        )

    def plan(
        self, visit: Visit, decision: Decision | None, ids: Identifiers, cookies: list[bytes]
    ) -> Plan:
        """What an HTML page of ``visit`` gets under ``decision``, ready to use: ``cookies``
        as headers, the tags a decided visitor's page carries, its page-view tokens."""
        banner = self.banner_state(visit, decision)
        state = consent_state(decision)
        granted = state == "granted"
        return Plan(
            decision,
            banner,
            tuple((b"set-cookie", cookie) for cookie in cookies),
            self.banner.snippet(banner, "") if banner.decided else b"",
            self.pageviews.bound(ids.session_id, ids.visitor_id) if ids.session_id else None,
            state,
            ids.visitor_id if granted else "",
            ids.session_id if granted else "",
        )

    def embed_tags(self, nonce: str = "") -> bytes:
        """The stylesheet and script of the embeds module, for a page with a placeholder."""
        script, style = self.embed_assets
        prefix = self.settings.prefix
        attribute = f' nonce="{escape(nonce)}"' if nonce else ""
        return (
            f'<link rel="stylesheet" href="{style.url(prefix)}"{attribute}>'
            f'<script src="{script.url(prefix)}" defer{attribute}></script>'
        ).encode()

    def texts_for(self, visit: Visit) -> BannerTexts:
        """The words ``visit``'s visitor reads: the banner's language."""
        return self.banner.texts(visit.language(self.languages, self.settings.default_language))

    def banner_state(self, visit: Visit, decision: Decision | None) -> BannerState:
        """What the banner shows this visitor: open without a decision, hidden with one."""
        return BannerState(
            language=visit.language(self.languages, self.settings.default_language),
            visible=decision is None,
            accepted=decision.accepted if decision is not None else frozenset(),
            decided=decision is not None,
            policy_changed=visit.cookie.stale,
        )


def consent_state(decision: Decision | None) -> ConsentState:
    """How a page request under ``decision`` is logged."""
    if decision is None:
        return "unknown"
    return "granted" if ANALYTICS in decision.accepted else "denied"
