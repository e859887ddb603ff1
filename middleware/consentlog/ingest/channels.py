"""Channels: where a page view arrived from, grouped the way analysts read traffic.

Every page row gets one channel, worked out by the writer from what the row keeps: its
host, the referrer's host, the campaign tags and whether an ad click id came. The rules,
first match wins (``docs/metrics.md`` has them as a table):

1. ``internal`` — the referrer is this site (the same host, or an alias of it): a click
   from one page to the next, not an arrival.
2. ``email`` — ``utm_medium`` is an e-mail medium (``email``, ``newsletter`` …), or the
   referrer is a webmail host (``mail.google.com`` …) and no ad click id came.
3. ``social`` — ``utm_medium`` is a social medium (``social``, ``social-network`` …), or
   the referrer is a social network (list below) and the link names no medium and
   carries no ad click id.
4. ``campaign`` — any other campaign tag (``utm_source``, ``utm_medium``,
   ``utm_campaign``, ``ref``) or an ad click id (``gclid``, ``fbclid`` …): a link the site
   tagged, paid or not.
5. ``direct`` — no referrer at all: typed, bookmarked, an app, or a referrer policy.
6. ``search`` — the referrer is a search engine (list below).
7. ``referral`` — any other site that linked here.

A host matches a list entry when it is the entry or a subdomain of it
(``news.ycombinator.com``, ``m.facebook.com``); an entry ending in ``.`` matches every
top-level domain (``google.`` is ``google.com``, ``google.co.uk`` and ``www.google.de``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

CHANNELS = ("direct", "search", "social", "email", "campaign", "referral", "internal")

EMAIL_MEDIA = frozenset({"email", "e-mail", "e_mail", "mail", "newsletter", "e mail"})
SOCIAL_MEDIA = frozenset(
    {"social", "social-network", "social_network", "social-media", "social_media", "sm", "sns"}
)

SEARCH_ENGINES = (
    "google.", "bing.com", "duckduckgo.com", "yahoo.", "yandex.", "baidu.com", "ecosia.org",
    "qwant.com", "search.brave.com", "startpage.com", "kagi.com", "naver.com", "seznam.cz",
    "ask.com", "aol.com", "sogou.com", "so.com", "daum.net", "mojeek.com", "perplexity.ai",
    "you.com", "yep.com", "metager.org", "search.lilo.org", "swisscows.com", "presearch.com",
)  # fmt: skip
SOCIAL_NETWORKS = (
    "facebook.com", "fb.com", "fb.me", "instagram.com", "twitter.com", "x.com", "t.co",
    "linkedin.com", "lnkd.in", "reddit.com", "news.ycombinator.com", "mastodon.social",
    "mastodon.online", "mstdn.social", "fosstodon.org", "hachyderm.io", "bsky.app",
    "threads.net", "threads.com", "youtube.com", "youtu.be", "pinterest.", "tiktok.com",
    "vk.com", "weibo.com", "tumblr.com", "quora.com", "discord.com", "discord.gg", "t.me",
    "telegram.org", "whatsapp.com", "wa.me", "snapchat.com", "lobste.rs", "xing.com",
    "slack.com", "medium.com", "substack.com", "tildes.net", "lemmy.world", "kbin.social",
)  # fmt: skip
WEBMAIL = (
    "mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com",
    "mail.yahoo.com", "mail.proton.me", "mail.aol.com", "mail.yandex.ru", "mail.zoho.com",
    "mail.ru", "gmx.net", "gmx.de", "web.de", "fastmail.com", "tuta.com",
)  # fmt: skip

# Ad click ids: their presence is kept (``click_id``), never their value, which
# identifies one click and so one person.
CLICK_IDS = (
    "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "twclid",
    "li_fat_id", "yclid", "epik", "rdt_cid", "sccid",
)  # fmt: skip


def _matches(host: str, entries: tuple[str, ...]) -> bool:
    """Whether ``host`` is, or is a subdomain of, one of ``entries`` (an entry ending in
    ``.`` stands for any top-level domain)."""
    labels = host.split(".")
    for start in range(len(labels)):
        suffix = ".".join(labels[start:])
        for entry in entries:
            if entry.endswith("."):
                # google. matches google.com and google.co.uk: the rest is a public
                # suffix of one or two short labels
                if suffix.startswith(entry) and _is_tld(suffix[len(entry) :]):
                    return True
            elif suffix == entry:
                return True
    return False


def _is_tld(rest: str) -> bool:
    parts = rest.split(".")
    return 1 <= len(parts) <= 2 and all(0 < len(p) <= 3 and p.isalpha() for p in parts)


def _bare(host: str) -> str:
    """A host as a referrer's host reads: lowercase, without its port, an IPv6 address
    without brackets, no trailing dot (``[::1]:8000`` → ``::1``, ``example.org.:80`` →
    ``example.org``)."""
    host = host.lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.rpartition(":")[0]
    return host.rstrip(".")


def _same_site(host: str, referrer_host: str, canonical: Callable[[str], str]) -> bool:
    """Whether a referrer's host (no port) is the page's host or an alias of it (aliases
    may be named with the page's port)."""
    site, referrer = _bare(canonical(host)), _bare(referrer_host)
    if _bare(canonical(referrer)) == site:
        return True
    port = host.rpartition(":")[2] if host.count(":") == 1 else ""
    return bool(port) and _bare(canonical(f"{referrer}:{port}")) == site


@functools.lru_cache(maxsize=4096)
def _kind(referrer_host: str) -> str:
    """What a referrer host is: ``search``, ``social``, ``email`` or ``referral``."""
    host = referrer_host.lower().rstrip(".")
    if host.startswith("webmail.") or _matches(host, WEBMAIL):
        return "email"
    if _matches(host, SEARCH_ENGINES):
        return "search"
    if _matches(host, SOCIAL_NETWORKS):
        return "social"
    return "referral"


def channel(
    host: str,
    referrer_host: str,
    source: str,
    medium: str,
    campaign: str,
    ref: str,
    click_id: str,
    canonical: Callable[[str], str] = str,
) -> str:
    """The channel of one page row (the module's rules); ``canonical`` maps a host to the
    one it is stored under (``host_aliases``), so a link from an alias is internal."""
    if referrer_host and _same_site(host, referrer_host, canonical):
        return "internal"
    medium = medium.strip().lower()
    kind = _kind(referrer_host) if referrer_host else ""
    if medium in EMAIL_MEDIA or (kind == "email" and not click_id):
        return "email"
    if medium in SOCIAL_MEDIA or (kind == "social" and not click_id and not medium):
        return "social"
    if source or medium or campaign or ref or click_id:
        return "campaign"
    if not referrer_host:
        return "direct"
    return kind
