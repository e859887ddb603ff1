"""Every option of consentlog, as keywords or ``CONSENTLOG_*`` environment variables.

``Settings.from_env(**overrides)`` reads the environment and lets keyword options win.
This module is the only reader of ``CONSENTLOG_*``: the middleware, the CLI, the demo and
the dashboard all build a ``Settings``. A variable's text is cast by the type annotation of
its field, in one place (``_cast``). Every field is listed, with its variable, in
``docs/configuration.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from consentlog.exceptions import ConfigError
from consentlog.texts import BannerTexts, catalogue

DAY = 24 * 60 * 60
MAX_COOKIE_LIFETIME = 395 * DAY  # the upper bound regulators accept for consent and identifiers


@dataclass(frozen=True, slots=True)
class Category:
    """A cookie category the visitor can accept or decline.

    ``cookie_patterns`` are shell-style name patterns (``_ga*``) of cookies the host
    application sets for this category; consentlog removes them from responses to
    visitors who have not accepted the category.
    """

    name: str
    label: str
    description: str
    cookie_patterns: tuple[str, ...] = ()
    required: bool = False


NECESSARY = "necessary"
ANALYTICS = "analytics"
MARKETING = "marketing"

DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(NECESSARY, "Necessary", "Remembers your cookie choice. Always on.", required=True),
    Category(
        ANALYTICS,
        "Analytics",
        "Counts visits and how pages are used, so we can improve them.",
        ("_ga", "_ga_*", "_gid", "_gat*", "_pk_*", "_hj*", "ajs_*"),
    ),
    Category(
        MARKETING,
        "Marketing",
        "Lets advertising partners measure and personalise ads.",
        ("_fbp", "_fbc", "_gcl_*", "IDE", "_uet*", "_ttp"),
    ),
)

EU = frozenset((
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
))  # fmt: skip
# groups banner_regions may name: the EU, and the EEA (the EU, Iceland, Liechtenstein,
# Norway), where the GDPR and the ePrivacy rules apply
REGION_GROUPS: dict[str, frozenset[str]] = {"EU": EU, "EEA": EU | {"IS", "LI", "NO"}}

MIN_KEY_BYTES = 32  # a signing key shorter than this can be guessed offline
DEFAULT_STORE_URL = "chdb:.consentlog"  # embedded, relative to the working directory
HOST_PREFIX = "__Host-"  # a cookie only this host over https can set (no Domain, Path=/)
GEOIP2FAST = "geoip2fast"  # the country database geoip2fast ships
SECRET_KEY_VARIABLES = ("CONSENTLOG_SECRET_KEYS", "CONSENTLOG_SECRET_KEY")  # either, not both

MAX_GOAL_RULES = 100  # every served request is held to each rule of its method
# a goal's (and an event's) name: no control character, no space at either end
GOAL_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.:/-]{0,62}[A-Za-z0-9_.:/-])?")


@dataclass(frozen=True, slots=True)
class GoalRule:
    """A server goal: a request the site answers the way the rule names (``POST /signup
    303``) counts as reaching goal ``name``, with no script and no identifier needed."""

    name: str
    method: str
    path: re.Pattern[str]
    statuses: frozenset[int]  # the answers that reach it
    text: str  # as configured

    def matches(self, method: str, path: str, status: int) -> bool:
        """Whether a request and its answer reach this goal. A partial answer (206) or a
        revalidation (304) is never a new goal unless the rule names that status."""
        statuses = self.statuses
        if method != self.method or status not in statuses or len(path) > MAX_GOAL_PATH:
            return False
        if status in _REPEATS and len(statuses) > 1:
            return False
        return self.path.fullmatch(path) is not None


MAX_GOAL_PATH = 2048  # a longer path reaches no goal (and costs no match)
_REPEATS = frozenset((206, 304))  # the same download or page again, in parts or revalidated


def goal_rule(item: str) -> GoalRule:
    """``name=METHOD /path [STATUS]`` as a ``GoalRule``; ConfigError naming the problem.
    The path's wildcards are those of ``path_pattern``. STATUS is a status (``303``) or
    a class (``3xx``); without one, a success (2xx) or a form's redirect (303)."""
    name, equals, rule = item.strip().partition("=")
    name, parts = name.strip(), rule.split()
    if not equals or not GOAL_NAME.fullmatch(name) or len(parts) not in (2, 3):
        raise ConfigError(
            f"goals: {item[:100]!r} is not name=METHOD /path [STATUS] (e.g. "
            "signup=POST /signup 303; a name of letters, digits, space, _ . : / -)"
        )
    method, path = parts[0].upper(), parts[1]
    if not method.isalpha() or not path.startswith("/") or len(path) > 1024:
        raise ConfigError(f"goals: {item[:100]!r}: the method is a word, the path starts with /")
    statuses = frozenset((*range(200, 300), 303))
    if len(parts) == 3:
        status = parts[2].lower()
        if re.fullmatch("[1-5][0-9][0-9]", status):
            statuses = frozenset((int(status),))
        elif re.fullmatch("[1-5]xx", status):
            statuses = frozenset(range(int(status[0]) * 100, int(status[0]) * 100 + 100))
        else:
            raise ConfigError(f"goals: {item[:100]!r}: the status is like 303 or 3xx")
    try:
        pattern = path_pattern(path)
    except ValueError as exc:
        raise ConfigError(f"goals: {item[:100]!r}: {exc}") from None
    return GoalRule(name, method, re.compile(pattern, re.DOTALL), statuses, item.strip())


def path_pattern(path: str) -> str:
    """A path with wildcards as a regular expression that Python and ClickHouse (RE2)
    read alike: ``*`` stands for a segment's characters, ``{name}`` (a route's
    parameter) for a non-empty segment, and ``**`` — only as the last segment — for
    anything after it; the rest is literal. At most one wildcard a segment, so that a
    match takes one pass over the path (``ValueError`` otherwise)."""
    segments = path.split("/")
    for index, segment in enumerate(segments):
        wildcards = len(re.findall(r"\*\*|\*|\{[^{}/]*\}", segment))
        if "**" in segment and (segment != "**" or index != len(segments) - 1):
            raise ValueError("'**' is a whole last segment (/files/**)")
        if wildcards > 1:
            raise ValueError(f"segment {segment[:40]!r} has more than one wildcard")
    return "".join(
        "[^/]+" if part.startswith("{") else ".*" if part == "**" else "[^/]*" if part == "*"
        else re.escape(part)
        for part in re.split(r"(\*\*|\*|\{[^{}/]*\})", path)
    )  # fmt: skip


MAX_FUNNEL_STEPS = 8  # funnel.sql has a condition per step
MAX_FUNNELS = 20


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One step of a funnel: a page view whose path matches ``pattern`` (a regular
    expression, from a path with wildcards), or reaching the goal named ``pattern``."""

    kind: Literal["page", "goal"]
    pattern: str
    label: str  # as configured: /pricing, goal:trial


@dataclass(frozen=True, slots=True)
class FunnelRule:
    """A funnel: steps a consented session takes in this order (others between them)."""

    name: str
    steps: tuple[FunnelStep, ...]
    text: str  # as configured


def funnel_rule(item: str) -> FunnelRule:
    """``name=STEP > STEP > …`` as a ``FunnelRule``; a step is a path (``/pricing``,
    wildcards as in goals) or ``goal:NAME``. ConfigError naming the problem."""
    name, equals, rest = item.strip().partition("=")
    name = name.strip()
    parts = [p.strip() for p in rest.split(">")]
    if not equals or not GOAL_NAME.fullmatch(name) or not 2 <= len(parts) <= MAX_FUNNEL_STEPS:
        raise ConfigError(
            f"funnels: {item[:100]!r} is not name=STEP > STEP … (2 to {MAX_FUNNEL_STEPS} "
            "steps, each a path such as /pricing or goal:NAME)"
        )
    steps = []
    for part in parts:
        if part.startswith("goal:") and GOAL_NAME.fullmatch(part[5:].strip()):
            steps.append(FunnelStep("goal", part[5:].strip(), part))
        elif part.startswith("/") and len(part) <= 1024 and " " not in part:
            steps.append(FunnelStep("page", f"^{path_pattern(part)}$", part))
        else:
            raise ConfigError(
                f"funnels: {item[:100]!r}: step {part[:60]!r} is neither a path nor goal:NAME"
            )
    return FunnelRule(name, tuple(steps), item.strip())


PageFilter = Callable[[str, str], bool]
"""``(path, content_type) -> bool``: is this response a page request to record?"""


@dataclass(frozen=True, slots=True)
class Settings:
    """All consentlog options. Lifetimes are in seconds."""

    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    policy_revision: int = 1
    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    clickhouse_url: str = DEFAULT_STORE_URL
    database: str = "consentlog"
    retention_months: int = 25
    spool_dir: str = ""  # '' = beside the embedded store, or ./.consentlog-spool
    prefix: str = "/_consent"
    consent_cookie: str = "cl_consent"
    visitor_cookie: str = "cl_vid"
    session_cookie: str = "cl_sid"
    consent_max_age: int = 182 * DAY
    visitor_max_age: int = 395 * DAY
    session_idle: int = 30 * 60  # 30 minutes
    cookie_domain: str | None = None
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    host_cookie_prefix: bool = False  # __Host- names: needs secure_cookies="always", no domain
    honor_gpc: bool = True
    honor_dnt: bool = False
    # where the banner asks (docs/banner.md "Regions"): () = everywhere; else the regions
    # whose visitors are asked ("EEA", "EU", "GB", "CH", "BR", "CA-QC", "US-CA" …), from
    # the country (country_header or country_database) and, for subdivisions, a trusted
    # CDN header naming the visitor's one (region_header: cf-region-code …). Elsewhere the
    # decision is outside_default, recorded with source "region"; unknown: asked
    banner_regions: tuple[str, ...] = ()
    region_header: str = ""
    outside_default: Literal["denied", "granted"] = "denied"
    erase_on_withdraw: bool = False
    trusted_proxy_hops: int = 0
    trust_forwarded_host: bool = False  # X-Forwarded-Host, and only from a trusted proxy
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    # "alias=canonical" pairs: pages of www.example.org stored as example.org
    host_aliases: tuple[str, ...] = ()
    # where a request's country comes from: a header the CDN in front sets (cf-ipcountry,
    # cloudfront-viewer-country; trusted, so only name one a proxy always overwrites),
    # else a database looked up with the full IP ('geoip2fast', a .mmdb path, '' = none)
    country_header: str = ""
    country_database: str = GEOIP2FAST
    # bot signals beyond the user agent (docs/bots.md): the headers every browser sends
    # (a page request without one is a bot's; () = not checked), and a file of data-centre
    # address ranges, one CIDR a line ('' = none)
    browser_headers: tuple[str, ...] = ("user-agent", "accept", "accept-language")
    datacentre_ranges: str = ""
    # server goals, "name=METHOD /path [STATUS]": signup=POST /signup 303 (docs/goals.md)
    goals: tuple[str, ...] = ()
    # funnels, "name=STEP > STEP …": trial=/pricing > goal:trial (docs/goals.md)
    funnels: tuple[str, ...] = ()
    inject_banner: bool = True
    privacy_url: str = "/privacy"
    # the banner's look (docs/banner.md "Theming"): light, dark, or the visitor's scheme;
    # a box at the bottom, a bar along the bottom edge, or a dialog in the middle
    banner_theme: Literal["auto", "light", "dark"] = "auto"
    banner_position: Literal["box", "bar", "dialog"] = "box"
    # Google Consent Mode v2 (docs/banner.md): an inline `default` at the start of <head>,
    # before any gtag config, and the visitor's decision as an `update` right after it
    # "auto": on the pages whose head or footer mention Google's tags (gtag, gtm …)
    consent_mode: Literal["auto", "on", "off"] = "auto"
    consent_mode_wait_for_update: int = 500  # ms tags wait for an update; 0 = not sent
    consent_mode_ads_data_redaction: bool = True  # ad click ids redacted while ads denied
    consent_mode_url_passthrough: bool = False  # click ids passed on in links instead
    # other defaults for some regions, "REGION …=granted|denied": "US=granted",
    # "US-CA US-CO=denied" (ISO 3166-1 / 3166-2 codes, the most specific one applies)
    consent_mode_regions: tuple[str, ...] = ()
    # embeds held back until consent (<iframe data-consent-src=…>): pages are searched for
    # the markers (False: never, for a site without embeds; ~27 µs on a 50 KB page), and
    # YouTube's load through its no-cookie host, www.youtube-nocookie.com
    embeds: bool = True
    youtube_nocookie: bool = True
    # the visitor's words: overrides per language over the shipped catalogues, any key of
    # consentlog/texts/catalogue/en.toml ({"de": {"accept": "Alle akzeptieren"}}); a
    # language without a catalogue needs every key
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    languages: tuple[str, ...] = ()  # the languages offered; () = every one with texts
    default_language: str = "en"
    exclude_paths: tuple[str, ...] = ("/healthz", "/health", "/favicon.ico", "/robots.txt")
    page_filter: PageFilter | None = None
    max_body_bytes: int = 16 * 1024
    queue_size: int = 100_000
    batch_size: int = 10_000
    flush_interval: float = 1.0  # seconds
    rollup_interval: float = 600.0  # seconds between runs of the daily rollup job
    dashboard_password: str = field(default="", repr=False)
    dashboard_token: str = field(default="", repr=False)
    # named dashboard users with roles (`consentlog users add`); when set, the dashboard
    # password and token are not used. '' = single-password mode
    users_file: str = ""
    # how the owner of an embedded store serves it to the other processes (and BI tools)
    serve_listen: str = ""  # HOST:PORT; '' = loopback, a free port
    serve_password: str = field(default="", repr=False)  # user consentlog; '' = generated
    serve_analyst_password: str = field(default="", repr=False)  # user analyst; '' = generated

    def __post_init__(self) -> None:
        _validate(self)
        if self.host_cookie_prefix:  # the names every reader and writer of cookies uses
            for name in ("consent_cookie", "visitor_cookie", "session_cookie"):
                if not getattr(self, name).startswith(HOST_PREFIX):
                    object.__setattr__(self, name, HOST_PREFIX + getattr(self, name))

    @property
    def host_alias_map(self) -> dict[str, str]:
        """Each alias host (lowercase, as stored) → the host its pages are stored under."""
        return dict(_host_alias(item) for item in self.host_aliases)

    @property
    def goal_rules(self) -> tuple[GoalRule, ...]:
        """The server goals, parsed (``goal_rule``)."""
        return tuple(goal_rule(item) for item in self.goals)

    @property
    def funnel_rules(self) -> tuple[FunnelRule, ...]:
        """The funnels, parsed (``funnel_rule``)."""
        return tuple(funnel_rule(item) for item in self.funnels)

    @property
    def asked_regions(self) -> frozenset[str]:
        """``banner_regions`` as country and subdivision codes (groups expanded)."""
        codes: set[str] = set()
        for item in self.banner_regions:
            if item in REGION_GROUPS:
                codes |= REGION_GROUPS[item]
            elif isinstance(item, str) and _REGION.fullmatch(item):
                codes.add(item)
            else:
                raise ConfigError(
                    f"banner_regions: {str(item)[:40]!r} is not a region: use a group "
                    f"({', '.join(sorted(REGION_GROUPS))}), a country (GB) or a subdivision "
                    "(CA-QC), in capitals"
                )
        return frozenset(codes)

    @property
    def consent_mode_region_defaults(self) -> tuple[tuple[tuple[str, ...], bool], ...]:
        """``consent_mode_regions`` parsed: (regions, granted) each."""
        return tuple(_region_default(item) for item in self.consent_mode_regions)

    def banner_texts(self) -> dict[str, BannerTexts]:
        """The texts of each language offered (``languages``), overrides applied. Built on
        each call: callers keep the result."""
        every = catalogue(self.texts, ((c.name, c.label, c.description) for c in self.categories))
        return {tag: t for tag, t in every.items() if not self.languages or tag in self.languages}

    @property
    def optional_categories(self) -> tuple[Category, ...]:
        """The categories a visitor may decline (all but the required ones)."""
        return tuple(c for c in self.categories if not c.required)

    def check_secret_keys(self) -> None:
        """ConfigError unless there is a key to sign with (everything but the store-side
        commands needs one)."""
        if not self.secret_keys:
            raise ConfigError(
                "secret_keys is empty: pass secret_keys=[...] or set CONSENTLOG_SECRET_KEY"
            )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        require_secret_keys: bool = True,
        only: Collection[str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from ``CONSENTLOG_*`` variables; keyword ``overrides`` win.

        ``require_secret_keys=False`` is for what signs nothing (the store commands) or
        makes its own key (the demo): then no key is no error. ``only`` names the options
        to read from the environment (the rest keep their defaults), so that a command
        that needs the store alone is not stopped by a bad variable it never uses.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, annotation in _annotations().items():
            if name in overrides or (only is not None and name not in only):
                continue
            variable, raw = _variable(env, name)
            if raw is not None:
                values[name] = _cast(name, variable, annotation, raw)
        values.update(overrides)
        if isinstance(values.get("secret_keys"), str):
            values["secret_keys"] = (values["secret_keys"],)
        for name in (
            "secret_keys", "exclude_paths", "categories", "host_aliases", "goals", "funnels",
            "browser_headers", "languages", "consent_mode_regions", "banner_regions",
        ):  # fmt: skip
            if name in values:
                values[name] = tuple(values[name])
        settings = cls(**values)
        if require_secret_keys:
            settings.check_secret_keys()
        return settings


def _validate(s: Settings) -> None:
    """ConfigError for the first option ``s`` cannot safely run with, naming what would be
    valid. Keywords and variables are held to the same rules (variables are cast first)."""
    if isinstance(s.secret_keys, str):  # each character would be a key
        raise ConfigError("secret_keys must be a list of keys, not one string: [key]")
    _check_types(s)
    if not all(key.strip() for key in s.secret_keys):
        raise ConfigError("secret_keys has an empty key: remove it")
    for key in s.secret_keys:
        if len(key.encode("utf-8")) < MIN_KEY_BYTES:  # never echo the key itself
            raise ConfigError(
                f"secret_keys: a key of {len(key.encode('utf-8'))} bytes is too short: use at"
                f" least {MIN_KEY_BYTES} random bytes, e.g. the output of"
                " python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
    for name in ("consent_max_age", "visitor_max_age"):
        value = getattr(s, name)
        if not 0 < value <= MAX_COOKIE_LIFETIME:
            raise ConfigError(f"{name}={value}: must be between 1 and {MAX_COOKIE_LIFETIME} s")
    if not s.prefix.startswith("/") or s.prefix.endswith("/") or s.prefix.startswith("//"):
        raise ConfigError(f"prefix={s.prefix!r}: must start with one '/' and not end with '/'")
    names = [c.name for c in s.categories]
    if NECESSARY not in names or len(set(names)) != len(names):
        raise ConfigError("categories: names must be unique and include 'necessary'")
    _check_texts(s)
    for item in s.consent_mode_regions:
        _region_default(item)
    s.asked_regions  # each item checked  # noqa: B018
    if s.region_header and not _HEADER_NAME.fullmatch(s.region_header):
        raise ConfigError(
            f"region_header={s.region_header[:100]!r}: use a header name in lowercase, such "
            "as cf-region-code or cloudfront-viewer-country-region"
        )
    for name in ("goals", "funnels"):
        if isinstance(getattr(s, name), str):
            raise ConfigError(f"{name} must be a list of rules, not one string: [rule]")
    for rule in s.goal_rules:
        literal = rule.text.split()[1].split("*")[0].split("{")[0]
        if literal == s.prefix or literal.startswith(s.prefix + "/"):
            raise ConfigError(f"goals: {rule.text[:100]!r}: consentlog's own routes are no goal")
    if len(s.goal_rules) > MAX_GOAL_RULES:  # each item checked
        raise ConfigError(f"goals: {len(s.goals)} rules; at most {MAX_GOAL_RULES}")
    funnels = [f.name for f in s.funnel_rules]  # each item checked
    if len(funnels) > MAX_FUNNELS or len(set(funnels)) != len(funnels):
        raise ConfigError(f"funnels: at most {MAX_FUNNELS}, each name once")
    aliases = s.host_alias_map  # each item checked
    if any(canonical in aliases for canonical in aliases.values()):
        raise ConfigError("host_aliases: a canonical host is itself an alias; name the final one")
    if s.host_cookie_prefix and (s.secure_cookies != "always" or s.cookie_domain):
        raise ConfigError(
            "host_cookie_prefix needs secure_cookies='always' and no cookie_domain: "
            "browsers refuse __Host- cookies otherwise"
        )
    _check_store_url(s.clickhouse_url)
    _check_privacy_url(s.privacy_url)
    if s.country_header and not _HEADER_NAME.fullmatch(s.country_header):
        raise ConfigError(
            f"country_header={s.country_header[:100]!r}: use a header name in lowercase, "
            "such as cf-ipcountry or cloudfront-viewer-country"
        )
    _check_country_database(s.country_database)
    for name in s.browser_headers:
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ConfigError(
                f"browser_headers: {str(name)[:100]!r} is not a header name in lowercase "
                "(such as accept-language)"
            )
    if s.datacentre_ranges and not Path(s.datacentre_ranges).is_file():
        raise ConfigError(
            f"datacentre_ranges={s.datacentre_ranges[:200]!r}: no such file (a text file "
            "of address ranges, one CIDR such as 192.0.2.0/24 a line, or '' for none)"
        )
    for name, low, high in _RANGES:
        value = getattr(s, name)
        if not low <= value <= high:
            bound = f"between {low} and {high}" if high != _NO_LIMIT else f">= {low}"
            raise ConfigError(f"{name}={value}: must be {bound}")


_NO_LIMIT = 2**63
# Numeric options and their valid ranges. An IP prefix is at most /24 (IPv4) and /64
# (IPv6): a whole address is never stored.
_RANGES = (
    ("policy_revision", 0, _NO_LIMIT),
    ("retention_months", 1, 1200),
    ("trusted_proxy_hops", 0, 16),
    ("ipv4_prefix", 0, 24),
    ("ipv6_prefix", 0, 64),
    ("session_idle", 1, MAX_COOKIE_LIFETIME),
    ("max_body_bytes", 1, 16 * 1024 * 1024),
    ("queue_size", 1, _NO_LIMIT),
    ("batch_size", 1, _NO_LIMIT),
    ("flush_interval", 0.001, 3600),
    ("rollup_interval", 1, 7 * DAY),
    ("consent_mode_wait_for_update", 0, 60_000),
)


_REGION = re.compile("[A-Z]{2}(-[A-Z0-9]{1,3})?")


def _region_default(item: str) -> tuple[tuple[str, ...], bool]:
    """``"US-CA US-CO=denied"`` → ``(("US-CA", "US-CO"), False)``; ConfigError naming
    what is wrong otherwise."""
    regions, _, state = str(item).partition("=")
    codes = tuple(regions.split())
    if state.strip() not in {"granted", "denied"} or not codes:
        raise ConfigError(
            f"consent_mode_regions: {str(item)[:100]!r}: use REGION …=granted or =denied, "
            "such as 'US=granted' or 'US-CA US-CO=denied'"
        )
    for code in codes:
        if not _REGION.fullmatch(code):
            raise ConfigError(
                f"consent_mode_regions: {code[:20]!r} is not a region: use an ISO 3166 "
                "code in capitals, a country (US) or a subdivision (US-CA)"
            )
    return codes, state.strip() == "granted"


def _check_texts(s: Settings) -> None:
    """ConfigError unless the texts are well formed, every offered language has them all,
    and the default language is offered."""
    if not isinstance(s.texts, Mapping) or not all(
        isinstance(tag, str)
        and isinstance(t, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in t.items())
        for tag, t in s.texts.items()
    ):
        raise ConfigError('texts: use {"language tag": {"key": "text", …}, …}')
    offered = s.banner_texts()
    if missing := [tag for tag in s.languages if tag not in offered]:
        every = catalogue(s.texts, ())
        raise ConfigError(
            f"languages: no texts for {missing[0][:40]!r}; give them in texts, or use "
            f"some of {', '.join(sorted(every))}"
        )
    if s.default_language not in offered:
        raise ConfigError(
            f"default_language={s.default_language!r} has no banner texts: use one of "
            f"{', '.join(sorted(offered))}"
        )


def _texts_file(path: Path) -> dict[str, dict[str, str]]:
    """Text overrides from a JSON or TOML file: ``{"de": {"accept": "…"}}`` or
    ``[de]`` tables."""
    raw = path.read_text(encoding="utf-8")
    data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a table (object) of languages")
    return {str(tag): dict(t) for tag, t in data.items()}


def _check_types(s: Settings) -> None:
    """Each option of a plain type has a value of that type (``honor_gpc="maybe"`` is not
    a boolean, ``True`` is not a number)."""
    for name, annotation in _annotations().items():
        value = getattr(s, name)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType) and value is None:
            continue
        if origin in (typing.Union, types.UnionType):
            annotation = next(a for a in args if a is not type(None))
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if annotation is bool and type(value) is not bool:
            raise ConfigError(f"{name}={value!r}: use True or False")
        if annotation is int and (type(value) is bool or not isinstance(value, int)):
            raise ConfigError(f"{name}={value!r}: use a whole number")
        if annotation is float and (type(value) is bool or not isinstance(value, int | float)):
            raise ConfigError(f"{name}={value!r}: use a number")
        if annotation is str and not isinstance(value, str):
            raise ConfigError(f"{name}={value!r}: use a text")
        if origin is Literal and value not in args:
            raise ConfigError(f"{name}={value!r}: use one of {', '.join(map(repr, args))}")
        texts = origin is tuple and args and args[0] is str
        if texts and (isinstance(value, str) or not all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{name}: use a list of texts, not {type(value).__name__}")


_HEADER_NAME = re.compile("[a-z0-9][a-z0-9-]{0,63}")
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)(:[0-9]{1,5})?")


def _host_alias(item: str) -> tuple[str, str]:
    """An ``alias=canonical`` pair of host_aliases, lowercased; ConfigError if not one."""
    alias, equals, canonical = item.strip().lower().partition("=")
    alias, canonical = alias.strip(), canonical.strip()
    if not equals or not _HOST.fullmatch(alias) or not _HOST.fullmatch(canonical):
        raise ConfigError(
            f"host_aliases: {item[:100]!r} is not alias=canonical "
            "(two host names, each with a port if it is not the default one)"
        )
    if alias == canonical:
        raise ConfigError(f"host_aliases: {item[:100]!r} names one host twice")
    return alias, canonical


def _check_country_database(database: str) -> None:
    """ConfigError unless ``database`` is '', ``geoip2fast`` (installed) or a file: what
    the writer will read (``ingest/geo.py``), checked without reading it."""
    if not database:
        return
    if database == GEOIP2FAST:
        if importlib.util.find_spec("geoip2fast") is None:
            raise ConfigError(
                "country_database='geoip2fast' needs the geoip2fast package: pip install "
                "geoip2fast, or set country_database to a .mmdb file or to ''"
            )
        return
    if not Path(database).is_file():
        raise ConfigError(
            f"country_database={database[:200]!r}: no such file (use 'geoip2fast', the path "
            "of a MaxMind-format .mmdb country database, or '' for none)"
        )


def _check_store_url(url: str) -> None:
    if url.startswith("chdb:"):
        return
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        # never echo the URL: it may hold a password
        raise ConfigError(
            f"clickhouse_url has the scheme {parts.scheme or 'none'!r}: use chdb:///abs/path, "
            "chdb:relative/path or http(s)://user:pass@host:8123"
        )


def _check_privacy_url(url: str) -> None:
    if not url:
        return
    parts = urlsplit(url)
    relative = not parts.scheme and not parts.netloc and not url.startswith(("//", "\\", "/\\"))
    if not (relative or parts.scheme in {"http", "https"}) or any(
        ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url
    ):
        raise ConfigError(
            f"privacy_url={url[:100]!r}: use a path on this site (/privacy, privacy.html) or an"
            " http(s) URL"
        )


@functools.cache
def _annotations() -> dict[str, Any]:
    """Field name → its type, resolved (the annotations are strings here)."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _variable(env: Mapping[str, str], name: str) -> tuple[str, str | None]:
    """The variable that sets option ``name`` and its text (None when unset)."""
    if name != "secret_keys":
        variable = f"CONSENTLOG_{name.upper()}"
        return variable, env.get(variable)
    found = [(v, env[v]) for v in SECRET_KEY_VARIABLES if env.get(v)]
    if len(found) == 2 and found[0][1] != found[1][1]:
        raise ConfigError(
            "CONSENTLOG_SECRET_KEYS and CONSENTLOG_SECRET_KEY are both set, differently: "
            "keep one (comma-separated keys, newest last)"
        )
    return found[0] if found else (SECRET_KEY_VARIABLES[1], None)


_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


def _cast(name: str, variable: str, annotation: Any, raw: str) -> Any:
    """The value of option ``name`` that the text ``raw`` of ``variable`` stands for, by
    the option's type; ConfigError naming the variable when it stands for none."""
    try:
        return _by_type(name, variable, annotation, raw)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise ConfigError(f"{variable}={raw!r} is not valid: {exc}") from None


def _by_type(name: str, variable: str, annotation: Any, raw: str) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):  # X | None: empty text is None
        if not raw.strip():
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _by_type(name, variable, inner, raw)
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise ValueError("use 1/0, true/false, yes/no or on/off")
        return lowered in _TRUE
    if annotation in (int, float, str):
        return annotation(raw.strip() if annotation is not str else raw)
    if origin is Literal:
        if raw.strip() not in args:
            raise ValueError(f"use one of {', '.join(map(str, args))}")
        return raw.strip()
    if origin is tuple and args == (Category, ...):
        return _categories_from_json(json.loads(raw))
    if origin is tuple and args == (str, ...):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if origin is Mapping and args == (str, Mapping[str, str]):
        return _texts_file(Path(raw))
    raise ConfigError(f"{variable}: {name} can only be given as a keyword option")


def _categories_from_json(data: Any) -> tuple[Category, ...]:
    """``{"analytics": ["_ga*"], ...}`` or a list of full category objects."""
    if isinstance(data, dict):
        extra = tuple(
            Category(name, name.title(), "", tuple(patterns))
            for name, patterns in data.items()
            if name != NECESSARY
        )
        return (DEFAULT_CATEGORIES[0], *extra)
    if isinstance(data, list):
        return tuple(
            Category(
                name=item["name"],
                label=item.get("label", item["name"].title()),
                description=item.get("description", ""),
                cookie_patterns=tuple(item.get("cookie_patterns", ())),
                required=bool(item.get("required", item["name"] == NECESSARY)),
            )
            for item in data
        )
    raise ValueError("expected a JSON object or list")
