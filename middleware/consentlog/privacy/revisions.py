"""What each visitor was shown when they decided: banner revisions.

A revision is the exact texts of one language's banner with the settings that shaped
what the visitor saw and what their choice meant (policy revision, categories and their
words, cookie lifetimes, privacy link, regions, signals honoured, look) as canonical
JSON, keyed by its SHA-256. ``revisions`` works them out when a site starts (one per
offered language); every consent record carries the one of the visitor's language
(``consent_records.banner_revision``); ``RevisionsHook`` stores them in
``banner_revisions`` on the writer's thread once the store answers — again after every
start, which the table's key folds into one row a revision.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import structlog

from consentlog.ingest.redact import store_error
from consentlog.ingest.writer import Writer
from consentlog.settings import Settings
from consentlog.texts import BannerTexts

log = structlog.get_logger("consentlog.privacy.revisions")

TABLE = "banner_revisions"
COLUMNS = ("revision", "first_seen", "policy_revision", "language", "content")


@dataclass(frozen=True, slots=True)
class Revision:
    """One banner as shown: its content hash, language and canonical JSON."""

    revision: str
    language: str
    policy_revision: int
    content: str


def content_of(settings: Settings, texts: BannerTexts) -> dict[str, object]:
    """What a visitor deciding on the banner in ``texts``' language was shown and agreed
    to, as plain data."""
    s = settings
    words = {k: v for k, v in asdict(texts).items() if k not in {"categories", "tag"}}
    return {
        "language": texts.tag,
        "direction": texts.direction,
        "policy_revision": s.policy_revision,
        "texts": words,
        "categories": [
            {
                "name": c.name,
                "label": texts.categories[c.name][0],
                "description": texts.categories[c.name][1],
                "required": c.required,
                "cookie_patterns": list(c.cookie_patterns),
            }
            for c in s.categories
        ],
        "privacy_url": s.privacy_url,
        "cookies": {
            "consent": {"name": s.consent_cookie, "max_age_s": s.consent_max_age},
            "visitor": {"name": s.visitor_cookie, "max_age_s": s.visitor_max_age},
            "session": {"name": s.session_cookie, "idle_s": s.session_idle},
        },
        "signals": {"gpc": s.honor_gpc, "dnt": s.honor_dnt},
        "regions": {"asked": sorted(s.banner_regions), "outside_default": s.outside_default},
        "look": {"theme": s.banner_theme, "position": s.banner_position},
    }


def revision_of(settings: Settings, texts: BannerTexts) -> Revision:
    """The revision of the banner in ``texts``' language under ``settings``."""
    content = json.dumps(
        content_of(settings, texts), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return Revision(digest, texts.tag, settings.policy_revision, content)


def revisions(settings: Settings, texts: Mapping[str, BannerTexts]) -> dict[str, Revision]:
    """Each offered language's revision."""
    return {tag: revision_of(settings, t) for tag, t in texts.items()}


class RevisionsHook:
    """Stores a site's revisions in ``banner_revisions`` once, when the store answers
    (retried after every cycle until it has)."""

    def __init__(self, found: Mapping[str, Revision]) -> None:
        self._pending = sorted(found.values(), key=lambda r: r.revision)

    def __call__(self, writer: Writer) -> None:
        if not self._pending or writer.store_down:
            return
        rows = self._pending
        now = int(time.time() * 1000)
        try:
            writer.ensure_prepared()
            writer.store.insert(
                f"{writer.database}.{TABLE}",
                [
                    [r.revision for r in rows],
                    [now] * len(rows),
                    [r.policy_revision for r in rows],
                    [r.language for r in rows],
                    [r.content for r in rows],
                ],
                COLUMNS,
                dedup_token="revisions-"
                + hashlib.sha256("".join(r.revision for r in rows).encode()).hexdigest(),
            )
        except Exception as exc:  # the next cycle tries again; decisions are unaffected
            log.warning("banner_revisions_not_stored", error=store_error(exc))
            return
        self._pending = []
