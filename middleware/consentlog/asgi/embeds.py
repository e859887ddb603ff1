"""Embeds held back until consent: ``<iframe data-consent-src=… data-consent=…>``.

A page marks each third-party embed (a video, a map, a post) with the URL it would load
and the category whose cookies it sets. When the page goes out, ``Embeds.rewrite`` turns
each one into what this visitor may have:

- the category accepted: the iframe itself, loading its URL (YouTube's through its
  no-cookie host unless told otherwise) — on the server, so it works without JavaScript;
- otherwise: a placeholder saying who would set cookies, with "Load once" (the
  ``embeds.js`` module loads it from the ``<template>`` it carries), "Always allow" (a
  button of a form at the end of the body, ``Rewritten.forms``, whose ``allow`` action
  adds that category to the visitor's decision, which works without JavaScript) and a
  plain link to the content.

A ``<div data-consent-embed="marketing" …>`` holding ``<script type="text/plain"
data-consent="marketing">`` (a widget whose script creates the iframe) gets the same
notice at its start; "Load once" runs that category's scripts inside it. The page is
scanned only when it holds a marker (``MARKERS``, in any letter case), and only the
tags that carry it are rewritten; a tag of the page's own, its comments and the raw
text of its scripts, styles and text areas are left exactly as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape, unescape
from html.entities import html5
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

from markupsafe import Markup

from consentlog.asgi.markup import TEMPLATES
from consentlog.settings import MARKETING, Category, Settings
from consentlog.texts import BannerTexts

MARKERS = (b"data-consent-src", b"data-consent-embed")  # a page without either is left alone
_MARKER = re.compile(rb"data-consent-(?:src|embed)", re.IGNORECASE)

# The page is read the way a browser's tokenizer reads it (WHATWG HTML, "Tokenization"),
# in one linear pass of possessive patterns: text, comments, end tags and the tags of
# other elements are stepped over whole (a quoted attribute value may hold ``>`` or
# ``<iframe``); the raw text of script, style, textarea and the like is never rewritten;
# each <iframe …> (with its raw-text content, to EOF when it is not closed), each
# <div …>, each <noscript> and each <svg>, <math> or <select> is handed to ``Embeds``.
_SPACE = rb"\t\n\f\r "
_ATTRIBUTES = (  # what follows a tag's name, up to its ">" (or EOF: the browser drops it)
    rb"(?:[" + _SPACE + rb"/]++|[^" + _SPACE + rb"/>][^" + _SPACE + rb"/>=]*+"
    rb"(?:[" + _SPACE + rb"]*+=[" + _SPACE + rb"]*+"
    rb"(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^" + _SPACE + rb">]*+))?)*+"
)
_END = rb"(?=[" + _SPACE + rb"/>]|\Z)"  # a tag name ends here
_RAW = rb"script|style|textarea|title|xmp|noembed|noframes"
_CLOSED = _ATTRIBUTES + rb"(?:>|\Z)"
_SKIPPED = b"".join(  # the commonest first: text, end tags, other start tags (2x faster)
    [
        rb"(?:[^<]++",  # text
        rb"|</[a-zA-Z][^" + _SPACE + rb"/>]*+" + _CLOSED,  # an end tag
        rb"|<(?!(?:iframe|div|noscript|svg|math|select|"
        + _RAW
        + rb"|plaintext)"
        + _END
        + rb")[a-zA-Z]",
        rb"[^" + _SPACE + rb"/>]*+" + _CLOSED,  # the start tag of any other element
        rb"|<!--(?:-?>|.*?--!?>|.*+)",  # a comment (to EOF when not closed)
        rb"|<(?:!|\?|/(?![a-zA-Z]))[^>]*+(?:>|\Z)",  # doctype, bogus comment, "</>"
        rb"|<plaintext" + _END + rb".*+",
        # raw text, never rewritten (spelled out per element: a group captured in a
        # possessive loop trips CPython 3.11's re)
        *(
            rb"|<" + name + _END + _CLOSED + rb"(?:.*?</" + name + _END + _CLOSED + rb"|.*+)"
            for name in _RAW.split(b"|")
        ),
        rb"|<(?![a-zA-Z!?/]))*+",  # a "<" that opens nothing
    ]
)
_PAGE = re.compile(
    rb"(?P<skipped>" + _SKIPPED + rb")(?:"
    rb"<iframe" + _END + rb"(?P<frame>" + _ATTRIBUTES + rb")(?P<framed>>?)"
    rb"(?:.*?</iframe" + _END + _CLOSED + rb"|.*+)"
    rb"|<div" + _END + rb"(?P<div>" + _ATTRIBUTES + rb")(?P<divided>>?)"
    # <noscript>: raw text up to its first </noscript> where scripts run (so never a
    # tag to step over), markup where they do not: its content is rewritten on its own
    rb"|(?P<noscript><noscript" + _END + _CLOSED + rb")(?P<unscripted>.*?)"
    rb"(?P<unnoscript></noscript" + _END + _CLOSED + rb"|\Z)"
    # SVG, MathML and <select> parse by other rules (no raw text; a placeholder's
    # elements would end them): a marked frame in one only loses its src
    rb"|(?P<foreign><(?P<language>svg|math|select)"
    + _END
    + _CLOSED
    + rb".*?(?:</(?P=language)"
    + _END
    + _CLOSED
    + rb"|\Z))"
    rb"|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_FRAME = re.compile(rb"<iframe" + _END + rb"(" + _ATTRIBUTES + rb")(>?)", re.IGNORECASE)
# one attribute of the text _ATTRIBUTES matched (names start anywhere but space and "/")
_ATTRIBUTE = re.compile(
    r"""([^\t\n\f\r />][^\t\n\f\r />=]*)"""
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*(?:"|\Z)|'[^']*(?:'|\Z)|[^\t\n\f\r >]*))?"""
)
_REFERENCE = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|([A-Za-z][A-Za-z0-9]*);?)")
_LEGACY_LONGEST = max(len(name) for name in html5 if not name.endswith(";"))
_DROPPED = frozenset(("src", "srcdoc"))  # what loads is data-consent-src's URL, nothing else
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
    """Whether a page may hold an embed to rewrite: a marker in any letter case (a
    browser lowercases attribute names). One lowercased copy (memory speed) and one
    scan of it for "data-consent-"; its few places (``data-consent-open`` links, say)
    are then compared."""
    lowered = body.lower()
    at = lowered.find(b"data-consent-")
    while at >= 0:
        if lowered.startswith(MARKERS, at):
            return True
        at = lowered.find(b"data-consent-", at + 13)
    return False


class Rewritten(NamedTuple):
    """A page after its embeds were rewritten: the body, whether any placeholder needs
    ``embeds.js`` / ``embeds.css``, and the "Always allow" forms its buttons name
    (``form="cl-allow-…"``), for the end of the body: a form inside the page's own form
    would be ignored by the browser, its fields joining the page's."""

    body: bytes
    placeholders: bool
    forms: bytes = b""


@dataclass(frozen=True, slots=True)
class _Embed:
    """One marked embed, as the page wrote it."""

    attributes: list[tuple[str, str | None]]  # the page's own, for the frame or widget
    src: str  # the URL, or '' when it is not http(s)
    category: str
    provider: str
    link: str  # where the plain link goes


class Embeds:
    """Rewrites the marked embeds of a page for one visitor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._categories = {c.name: c for c in settings.optional_categories}
        # a necessary embed always loads: no choice could ever let it
        self._required = frozenset(c.name for c in settings.categories if c.required)
        self._template = TEMPLATES.get_template("embed.html")
        self._forms = TEMPLATES.get_template("embed_forms.html")

    def rewrite(
        self,
        body: bytes,
        accepted: frozenset[str],
        texts: BannerTexts,
        next_url: str,
        encoding: str = "utf-8",
    ) -> Rewritten:
        """``body`` with each marked embed as ``accepted`` allows (module docstring);
        text goes in the page's ASCII-compatible ``encoding``. One linear pass: call it
        on a page ``marked`` found (any other comes back unchanged, after that pass)."""
        placeholders = False
        allowed: dict[str, None] = {}  # the categories of the placeholders, in order

        def unit(match: re.Match[bytes]) -> bytes:
            nonlocal placeholders
            if match.group("foreign") is not None:
                return match.group("skipped") + _FRAME.sub(_inert, match.group("foreign"))
            if match.group("noscript") is not None:  # what a browser without scripts reads
                inner = _PAGE.sub(unit, match.group("unscripted"))
                return b"".join((match.group("skipped"), match.group("noscript"), inner,
                                 match.group("unnoscript")))  # fmt: skip
            frame, div = match.group("frame"), match.group("div")
            tag = frame if frame is not None else div
            if tag is None or not match.group("framed" if frame is not None else "divided"):
                # the page after its last iframe or div, or a tag cut off by the end of
                # the page, which a browser drops
                return match.group(0)
            attributes = _attributes(tag.decode(encoding, "replace"))
            if frame is not None and "data-consent-src" in attributes:
                embed = self._read_frame(attributes)
                markup, held = self._frame(embed, accepted, texts, next_url)
                kept = match.group("skipped")  # the frame's content goes: it never shows
            elif div is not None and "data-consent-embed" in attributes:
                embed = self._read_widget(attributes)
                if embed.category in accepted | self._required or not embed.provider:
                    return match.group(0)  # its scripts run (or, unnamed, stay held) as marked
                markup, held = self._placeholder(embed, texts, next_url, ""), True
                kept = match.group(0)  # the div's own tag, then the notice
            else:
                return match.group(0)  # an iframe or div of the page's own
            if held:
                placeholders = True
                allowed[embed.category] = None
            return kept + markup.encode(encoding, "xmlcharrefreplace")

        rewritten = _PAGE.sub(unit, body)
        categories = [c for c in allowed if c in self._categories]
        forms = (
            self._forms.render(categories=categories, prefix=self._settings.prefix,
                               next_url=next_url).encode(encoding, "xmlcharrefreplace")
            if categories
            else b""
        )  # fmt: skip
        return Rewritten(rewritten, placeholders, forms)

    def _frame(
        self, embed: _Embed, accepted: frozenset[str], texts: BannerTexts, next_url: str
    ) -> tuple[str, bool]:
        """A marked iframe as this visitor may have it, and whether it is a placeholder."""
        if not embed.src:  # not an http(s) URL: an empty frame, never a javascript: one
            return _tag("iframe", embed.attributes) + "</iframe>", False
        if embed.category in accepted or embed.category in self._required:
            return _tag("iframe", embed.attributes, src=embed.src) + "</iframe>", False
        # the frame "Load once" puts in carries its URL aside (embeds.js moves it to src):
        # a browser without <template> (IE 11) must not load it from the placeholder
        frame = _tag("iframe", embed.attributes, **{"data-consent-src": embed.src})
        return self._placeholder(embed, texts, next_url, frame + "</iframe>"), True

    def _read_frame(self, attributes: dict[str, str | None]) -> _Embed:
        """A marked iframe: its URL is ``data-consent-src``, its category
        ``data-consent``; its other attributes are kept for the frame."""
        url = _web_url(attributes.get("data-consent-src") or "")
        kept = [
            (n, v)
            for n, v in attributes.items()
            if not n.startswith("data-consent") and n not in _DROPPED
        ]
        return self._embed(attributes, url, "data-consent", kept, self._nocookie(url))

    def _read_widget(self, attributes: dict[str, str | None]) -> _Embed:
        """A ``<div data-consent-embed>``: its category is that attribute, its host
        the link's (``data-consent-href``); nothing of it loads from here."""
        url = _web_url(attributes.get("data-consent-href") or "")
        return self._embed(attributes, url, "data-consent-embed", [], "")

    @staticmethod
    def _embed(
        attributes: dict[str, str | None],
        url: str,
        category_attribute: str,
        kept: list[tuple[str, str | None]],
        src: str,
    ) -> _Embed:
        host = (urlsplit(url).hostname or "") if url else ""
        return _Embed(
            attributes=kept,
            src=src,
            category=attributes.get(category_attribute) or MARKETING,
            provider=attributes.get("data-consent-provider") or _provider(host) or host,
            link=_web_url(attributes.get("data-consent-href") or "") or _watch_url(url),
        )

    def _nocookie(self, url: str) -> str:
        """YouTube's embeds through its no-cookie host (``youtube_nocookie``)."""
        if not url or not self._settings.youtube_nocookie:
            return url
        parts = urlsplit(url)
        if (parts.hostname or "") in _YOUTUBE and parts.path.startswith("/embed/"):
            return urlunsplit(parts._replace(netloc="www.youtube-nocookie.com"))
        return url

    def _placeholder(self, embed: _Embed, texts: BannerTexts, next_url: str, frame: str) -> str:
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
            prefix=self._settings.prefix,
            theme=self._settings.banner_theme,
            next_url=next_url,
            frame=Markup(frame),  # noqa: S704 - built by _tag from escaped attributes
            loadable=bool(frame),
        )


def _inert(match: re.Match[bytes]) -> bytes:
    """A marked iframe's opening tag without what would load (``src``, ``srcdoc``); any
    other tag as it was."""
    raw = match.group(1)
    if not match.group(2) or not _MARKER.search(raw):
        return match.group(0)
    attributes = _attributes(raw.decode("latin-1"))
    if "data-consent-src" not in attributes:
        return match.group(0)
    kept = [(n, v) for n, v in attributes.items() if n not in _DROPPED]
    return _tag("iframe", kept).encode("latin-1", "xmlcharrefreplace")


def _attributes(raw: str) -> dict[str, str | None]:
    """A tag's attributes, names lowercased, values unquoted and their character
    references decoded as in an attribute; the first of a repeated name wins, as in a
    browser."""
    found: dict[str, str | None] = {}
    for match in _ATTRIBUTE.finditer(raw):
        name, value = match.group(1).lower(), match.group(2)
        if value is not None and value[:1] in {'"', "'"}:
            quote, value = value[0], value[1:]
            value = value.removesuffix(quote)
        found.setdefault(name, None if value is None else _unescape_attribute(value))
    return found


def _unescape_attribute(value: str) -> str:
    """``value`` with its character references decoded by the rule for attribute
    values (WHATWG HTML, "named character reference state"): a name without ``;`` that
    is followed by a letter, a digit or ``=`` stays as written, so ``?a=1&param=2`` and
    ``&copy2024`` are left alone, where ``html.unescape`` would make ``¶m`` and ``©2024``."""
    if "&" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        text, name = match.group(0), match.group(1)
        if name is None:  # a numeric reference
            return unescape(text)
        if text.endswith(";") and (full := html5.get(name + ";")) is not None:
            return full
        # a legacy name without ";" (the longest that is a prefix) decodes only when
        # nothing alphanumeric or "=" follows it
        longest = min(len(name), _LEGACY_LONGEST)  # a hostile name of 100 KB costs no more
        legacy = next((name[:n] for n in range(longest, 1, -1) if name[:n] in html5), "")
        if not legacy or legacy != name or text.endswith(";"):
            return text
        return text if value[match.end() : match.end() + 1] == "=" else html5[legacy]

    return _REFERENCE.sub(one, value)


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


_PROVIDER_LABELS = max(key.count(".") for key in PROVIDERS) + 1


def _provider(host: str) -> str:
    """The company behind ``host``, from ``PROVIDERS`` (its domain or a parent): only
    the last labels are looked at, as many as the longest key has (a hostile host of
    thousands of labels costs no more)."""
    if len(host) > 253:  # no DNS name is longer
        return ""
    labels = host.lower().split(".")[-_PROVIDER_LABELS:]
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
