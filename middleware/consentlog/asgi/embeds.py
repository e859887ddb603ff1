"""Embeds held back until consent: ``<iframe data-consent-src=… data-consent=…>``.

A page marks each third-party embed (a video, a map, a post) with the URL it would load
and the category whose cookies it sets. When the page goes out, ``Embeds.rewrite`` turns
each one into what this visitor may have:

- the category accepted: the iframe itself, loading its URL (YouTube's through its
  no-cookie host unless told otherwise) — on the server, so it works without JavaScript;
- otherwise: a placeholder saying who would set cookies, with "Load once" (the
  ``embeds.js`` module loads it from the ``<template>`` it carries), "Always allow" (a
  form posting the visitor's choices plus that category, which works without JavaScript)
  and a plain link to the content.

A ``<div data-consent-embed="marketing" …>`` holding ``<script type="text/plain"
data-consent="marketing">`` (a widget whose script creates the iframe) gets the same
notice at its start; "Load once" runs the scripts inside it. The page is scanned only
when it holds a marker (``MARKERS``), and only the tags that carry it are rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape, unescape
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

from markupsafe import Markup

from consentlog.asgi.markup import TEMPLATES
from consentlog.settings import MARKETING, Category, Settings
from consentlog.texts import BannerTexts

MARKERS = (b"data-consent-src", b"data-consent-embed")  # a page without either is left alone
_IFRAME = re.compile(rb"<iframe\b([^>]*\bdata-consent-src\s*=[^>]*)>(.*?)</iframe\s*>", re.I | re.S)
_DIV = re.compile(rb"<div\b([^>]*\bdata-consent-embed\b[^>]*)>", re.I)
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
# who sets the cookies, by the embed's host (a data-consent-provider attribute wins)
PROVIDERS: dict[str, str] = {
    "youtube.com": "YouTube",
    "youtube-nocookie.com": "YouTube",
    "youtu.be": "YouTube",
    "vimeo.com": "Vimeo",
    "google.com": "Google",
    "maps.google.com": "Google Maps",
    "spotify.com": "Spotify",
    "soundcloud.com": "SoundCloud",
    "twitter.com": "X (Twitter)",
    "x.com": "X (Twitter)",
    "facebook.com": "Facebook",
    "instagram.com": "Instagram",
    "tiktok.com": "TikTok",
    "linkedin.com": "LinkedIn",
    "openstreetmap.org": "OpenStreetMap",
    "dailymotion.com": "Dailymotion",
    "twitch.tv": "Twitch",
    "codepen.io": "CodePen",
    "calendly.com": "Calendly",
}
_YOUTUBE = frozenset(("youtube.com", "www.youtube.com", "m.youtube.com"))


def marked(body: bytes) -> bool:
    """Whether a page holds an embed to rewrite (two scans of its bytes)."""
    return MARKERS[0] in body or MARKERS[1] in body


class Rewritten(NamedTuple):
    """A page after its embeds were rewritten: the body, and whether any placeholder
    needs ``embeds.js`` / ``embeds.css``."""

    body: bytes
    placeholders: bool


@dataclass(frozen=True, slots=True)
class _Embed:
    """One marked embed, as the page wrote it."""

    attributes: list[tuple[str, str | None]]
    src: str  # the URL, or '' when it is not http(s)
    category: str
    provider: str
    link: str  # where the plain link goes


class Embeds:
    """Rewrites the marked embeds of a page for one visitor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._categories = {c.name: c for c in settings.optional_categories}
        self._template = TEMPLATES.get_template("embed.html")

    def rewrite(
        self,
        body: bytes,
        accepted: frozenset[str],
        texts: BannerTexts,
        next_url: str,
        encoding: str = "utf-8",
    ) -> Rewritten:
        """``body`` with each marked embed as ``accepted`` allows (module docstring);
        text goes in the page's ASCII-compatible ``encoding``."""
        if not marked(body):
            return Rewritten(body, False)
        placeholders = False

        def iframe(match: re.Match[bytes]) -> bytes:
            nonlocal placeholders
            embed = self._read(match.group(1).decode(encoding, "replace"))
            if not embed.src:  # not an http(s) URL: an empty frame, never a javascript: one
                return _tag("iframe", embed.attributes).encode(encoding) + b"</iframe>"
            if embed.category in accepted:
                return (
                    _tag("iframe", embed.attributes, src=embed.src).encode(
                        encoding, "xmlcharrefreplace"
                    )
                    + b"</iframe>"
                )
            placeholders = True
            frame = _tag("iframe", embed.attributes, src=embed.src) + "</iframe>"
            return self._placeholder(embed, accepted, texts, next_url, frame).encode(
                encoding, "xmlcharrefreplace"
            )

        def div(match: re.Match[bytes]) -> bytes:
            nonlocal placeholders
            attributes = match.group(1).decode(encoding, "replace")
            embed = self._read(attributes, category_attribute="data-consent-embed")
            if embed.category in accepted or not embed.provider:
                return match.group(0)  # its scripts run (or, unnamed, stay held) as marked
            placeholders = True
            notice = self._placeholder(embed, accepted, texts, next_url, "")
            return match.group(0) + notice.encode(encoding, "xmlcharrefreplace")

        body = _IFRAME.sub(iframe, body)
        body = _DIV.sub(div, body)
        return Rewritten(body, placeholders)

    def _read(self, raw: str, category_attribute: str = "data-consent") -> _Embed:
        attributes = [
            (name.lower(), unescape(value[1:-1] if value[:1] in "\"'" else value))
            if value is not None
            else (name.lower(), None)
            for name, value in (m.groups() for m in _ATTRIBUTE.finditer(raw))
            if name.lower() != "src"  # the URL is data-consent-src's, never the page's own
        ]
        found = {name: value or "" for name, value in attributes}
        category = found.get(category_attribute, "") or MARKETING
        if category_attribute == "data-consent-embed":
            source = found.get("data-consent-href", "")
        else:
            source = found.get("data-consent-src", "")
        url = _web_url(source)
        host = (urlsplit(url).hostname or "") if url else ""
        src = self._nocookie(url) if category_attribute == "data-consent" else ""
        kept = [(n, v) for n, v in attributes if not n.startswith("data-consent")]
        return _Embed(
            attributes=kept,
            src=src,
            category=category,
            provider=found.get("data-consent-provider", "") or _provider(host) or host,
            link=_web_url(found.get("data-consent-href", "")) or _watch_url(url),
        )

    def _nocookie(self, url: str) -> str:
        """YouTube's embeds through its no-cookie host (``youtube_nocookie``)."""
        if not url or not self._settings.youtube_nocookie:
            return url
        parts = urlsplit(url)
        if (parts.hostname or "") in _YOUTUBE and parts.path.startswith("/embed/"):
            return urlunsplit(parts._replace(netloc="www.youtube-nocookie.com"))
        return url

    def _placeholder(
        self,
        embed: _Embed,
        accepted: frozenset[str],
        texts: BannerTexts,
        next_url: str,
        frame: str,
    ) -> str:
        category: Category | None = self._categories.get(embed.category)
        label = texts.categories.get(embed.category, (embed.category, ""))[0]
        provider = embed.provider
        return self._template.render(
            texts=texts,
            label=texts.embed_label.replace("{provider}", provider),
            notice=texts.embed_notice.replace("{provider}", provider).replace("{category}", label),
            link_text=texts.embed_link.replace("{provider}", provider),
            link=embed.link,
            category=embed.category,
            allowable=category is not None,
            accepted=sorted(accepted & set(self._categories) - {embed.category}),
            prefix=self._settings.prefix,
            next_url=next_url,
            frame=Markup(frame),  # noqa: S704 - built by _tag from escaped attributes
            loadable=bool(frame),
        )


def _tag(name: str, attributes: list[tuple[str, str | None]], **extra: str) -> str:
    """An opening tag with ``attributes`` (escaped again) and ``extra`` first."""
    parts = [f"<{name}"]
    for key, value in [*extra.items(), *attributes]:
        parts.append(f" {key}" if value is None else f' {key}="{escape(value)}"')
    return "".join(parts) + ">"


def _web_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL (or ``//host/…``), else ''."""
    value = value.strip()
    if value.startswith("//"):
        value = "https:" + value
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    return value if parts.scheme in {"http", "https"} and parts.hostname else ""


def _provider(host: str) -> str:
    """The company behind ``host``, from ``PROVIDERS`` (its domain or a parent)."""
    labels = host.lower().split(".")
    for start in range(len(labels) - 1):
        if (name := PROVIDERS.get(".".join(labels[start:]))) is not None:
            return name
    return ""


def _watch_url(url: str) -> str:
    """Where a visitor views an embed's content itself: a YouTube video's watch page, a
    Vimeo video's page, else the embed's own URL."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if (host in _YOUTUBE or host.endswith("youtube-nocookie.com")) and parts.path.startswith(
        "/embed/"
    ):
        video = parts.path.removeprefix("/embed/").split("/")[0]
        start = parse_qs(parts.query).get("start", [""])[0]
        suffix = f"&t={start}" if start.isdigit() else ""
        return f"https://www.youtube.com/watch?v={video}{suffix}" if video else url
    if host == "player.vimeo.com" and parts.path.startswith("/video/"):
        return f"https://vimeo.com/{parts.path.removeprefix('/video/').split('/')[0]}"
    return url
