"""What the dashboard tests share: the credentials, the week of traffic they read (and the
range that covers it), and the pages with a heading each must show.

The fixtures built from these (``dataset``, ``app``, ``anonymous``, ``analyst``) live in
``conftest.py``.
"""

from __future__ import annotations

import datetime
import random
import uuid

from consentlog.ingest.events import BrowserCheck, ConsentRecord, Engagement, Goal, PageRequest
from tests.helpers import DAY, generate, generate_goals

PASSWORD = "correct horse battery staple"
TOKEN = "dashboard-token-7f3a"
SECRET = "dashboard-test-secret-key-long-enough-01"
DAYS = 7
FIRST = DAY - datetime.timedelta(days=DAYS - 1)
RANGE = f"start={FIRST}&end={DAY}"

PAGES = {  # route → a heading it must show
    "/": "Views and visitors per day",
    "/pages": "Page usefulness",
    "/pages/detail?path=/docs": "Engaged time per view",
    "/goals": "Conversions by goal",
    "/funnels": "Funnel: buy",
    "/sources": "Arrivals by channel",
    "/countries": "Views by country",
    "/bots": "Requests by signal",
    "/consent": "Decisions per day by action",
    "/errors": "Pages answered 404 or 5xx",
    "/now": "Pages being read",
}


Event = PageRequest | Engagement | ConsentRecord | Goal | BrowserCheck


def events() -> list[Event]:
    """A week of traffic: test_metrics' day repeated with other seeds, one page made
    clearly useless, the checks of two thirds of the views without consent (their script
    ran), and consent decisions of two policy revisions."""
    out: list[Event] = []
    rng = random.Random(3)
    for back in range(DAYS):
        pages, engagements = generate(seed=back)
        ids = {p.pageview_id: str(uuid.uuid4()) for p in pages}
        shift = back * 86400
        out += [p._replace(ts=p.ts - shift, pageview_id=ids[p.pageview_id]) for p in pages]
        out += [
            BrowserCheck(p.ts - shift + 1, ids[p.pageview_id])
            for i, p in enumerate(pages)
            if p.consent_state != "granted" and i % 3
        ]
        out += [
            g._replace(ts=g.ts - shift, pageview_id=ids.get(g.pageview_id, ""))
            for g in generate_goals(pages)
        ]
        for e in engagements:
            short = e.path == "/blog/thin"  # the page nobody reads
            out.append(
                e._replace(
                    ts=e.ts - shift,
                    pageview_id=ids[e.pageview_id],
                    engaged_ms=min(e.engaged_ms, 3000) if short else e.engaged_ms,
                    scroll_pct=min(e.scroll_pct, 20) if short else e.scroll_pct,
                    useful=False if short and e.useful is not None else e.useful,
                )
            )
        start = pages[0].ts - shift
        for i in range(40 + 5 * back):
            revision = 1 if back >= 3 else 2
            action, categories, source = rng.choice(
                [
                    ("accept_all", ("analytics", "marketing"), "banner"),
                    ("accept_all", ("analytics", "marketing"), "banner"),
                    ("reject_all", (), "banner"),
                    ("custom", ("analytics",), "banner"),
                    ("reject_all", (), "form"),
                    ("gpc", (), "gpc"),
                    ("withdraw", (), "banner"),
                ]
            )
            out.append(
                ConsentRecord(
                    ts=start + i * 30,
                    consent_id=uuid.uuid4().hex,
                    action=action,
                    categories=categories,
                    policy_revision=revision,
                    source=source,
                    visitor_id="",
                    client_ip="",
                    user_agent="Mozilla/5.0",
                )
            )
    return out
