"""What consentlog reads from an ASGI request: headers, client address, origin checks, and
where a form may send the browser back to. Pure: no I/O (the body is read in ``asgi.body``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import quote, unquote

from starlette.types import Scope

from consentlog.texts import ALIASES


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """Header name → value; repeated headers are joined as HTTP allows.

    ASGI servers send header names lower-cased (the spec requires it), so names are
    taken as they are.
    """
    raw = scope.get("headers") or ()
    if not isinstance(raw, (list, tuple)):  # any iterable, as ASGI allows
        raw = list(raw)
    headers: dict[bytes, bytes] = dict(raw)  # in C: a request repeats no header, mostly
    if len(headers) == len(raw):
        return headers
    headers.clear()
    for name, value in raw:
        if name in headers:
            separator = b"; " if name == b"cookie" else b", "
            headers[name] = headers[name] + separator + value
        else:
            headers[name] = value
    return headers


def text(headers: dict[bytes, bytes], name: bytes, limit: int = 2048) -> str:
    """A header as text (latin-1, as HTTP bytes are), cut to ``limit`` characters."""
    return headers.get(name, b"")[:limit].decode("latin-1")


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and client address of a request, after trusted proxies."""

    scheme: str
    host: str
    client_ip: str

    @property
    def https(self) -> bool:
        """True when the visitor reached the site over https."""
        return self.scheme in {"https", "wss"}


def _forwarded(headers: dict[bytes, bytes], name: bytes, hops: int) -> str | None:
    """The value a proxy ``hops`` steps away from us wrote into an X-Forwarded-* list."""
    values = [v.strip() for v in text(headers, name).split(",") if v.strip()]
    if hops <= 0 or not values:
        return None
    return values[-hops] if len(values) >= hops else values[0]


def origin_of(
    scope: Scope,
    headers: dict[bytes, bytes],
    trusted_hops: int,
    *,
    forwarded_host: bool = False,
) -> Origin:
    """Where the request came from, trusting ``trusted_hops`` reverse proxies.

    The scheme comes from ``X-Forwarded-Proto`` only behind a trusted proxy (TLS often
    ends there); the host from ``X-Forwarded-Host`` only when also ``forwarded_host``, as
    many proxies pass a client's value through untouched.
    """
    client = scope.get("client")
    return origin_from(
        str(scope.get("scheme", "http")),
        str(client[0]) if client else "",
        scope.get("server"),
        headers,
        trusted_hops,
        forwarded_host=forwarded_host,
    )


def origin_from(
    scheme: str,
    ip: str,
    server: tuple[str, int | None] | None,
    headers: dict[bytes, bytes],
    trusted_hops: int,
    *,
    forwarded_host: bool = False,
) -> Origin:
    """``origin_of`` from the parts of a scope it reads (the scheme, the client's address,
    the server's), for a request whose scope is gone (the writer's page requests)."""
    host = text(headers, b"host", 255)
    if trusted_hops:
        ip = _forwarded(headers, b"x-forwarded-for", trusted_hops) or ip
        scheme = _forwarded(headers, b"x-forwarded-proto", 1) or scheme
        if forwarded_host:
            host = (_forwarded(headers, b"x-forwarded-host", 1) or host)[:255]
    if not host:
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    scheme = scheme.lower()
    return Origin(scheme, site_host(scheme, host.lower()), ip)


_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_WEB_SCHEMES = {"ws": "http", "wss": "https"}  # a WebSocket scope's page is http(s)


def site_host(scheme: str, host: str) -> str:
    """``host`` without the scheme's default port (``example.org:443`` over https is
    ``example.org``): one site, one host, however the client wrote its Host header."""
    name, colon, port = host.rpartition(":")  # "[::1]" has no port: "1]" is no default
    if colon and name and port == _DEFAULT_PORTS.get(scheme):
        return name
    return host


def web_origin(scheme: str, host: str) -> str:
    """The origin as a browser serialises it: ``https://example.org`` (no default port)."""
    scheme = _WEB_SCHEMES.get(scheme, scheme)
    return f"{scheme}://{site_host(scheme, host)}"


SAFE_FETCH_SITES: frozenset[str] = frozenset(("same-origin", "none"))


def cross_site_reason(headers: dict[bytes, bytes], origin: Origin) -> str | None:
    """Why a state-changing request is refused as cross-site, or None if it is same-origin.

    ``Sec-Fetch-Site`` is decisive when the browser sends it; otherwise an ``Origin``
    header must name this site. Requests with neither come from non-browser clients,
    which cookies cannot be forged for, and are allowed.
    """
    fetch_site = text(headers, b"sec-fetch-site", 32).lower()
    if fetch_site and fetch_site not in SAFE_FETCH_SITES:
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    sent_origin = text(headers, b"origin", 512).lower()
    # Scheme, host and port decide: a page of http://site is another origin than
    # https://site. Behind a proxy that ends TLS, ``origin`` carries the forwarded scheme.
    if sent_origin and sent_origin != web_origin(origin.scheme, origin.host):
        return f"cross-origin request refused (Origin: {sent_origin[:100]})"
    return None


def forced_language(scope: Scope) -> str:
    """The language the host application chose for this request's banner
    (``scope["state"]["consent_language"]``, Starlette: ``request.state``), or ''."""
    state = scope.get("state")
    forced = state.get("consent_language") if isinstance(state, dict) else None
    return forced[:35] if isinstance(forced, str) else ""


@functools.lru_cache(maxsize=1024)
def first_language(accept_language: str) -> str:
    """The visitor's first primary language tag (``de`` from ``de-AT,de;q=0.9``), as
    stored in ``page_requests.language``; '' for none."""
    for part in accept_language.split(","):
        tag = part.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0][:8]
        if primary and primary != "*" and primary.isalpha():
            return primary
    return ""


# Chinese in traditional characters: never met by the simplified catalogue (``zh``)
_TRADITIONAL = frozenset(("zh-hant", "zh-tw", "zh-hk", "zh-mo"))


@functools.lru_cache(maxsize=1024)
def best_language(accept_language: str, known: frozenset[str]) -> str:
    """The tag among ``known`` (catalogue tags such as ``de``, ``pt-BR``) that best meets
    an ``Accept-Language`` header, or '' when none does.

    Preferences go by weight (``q`` between 0 and 1; ``q=0`` refuses), ties in the order
    given; ``_`` counts as ``-`` (``pt_BR``). Each is met by the same tag (case aside),
    else by an alias (``no`` → ``nb``), else by its language without the region
    (``pt-PT`` → ``pt``), else by a regional form of its language (``pt`` → ``pt-BR`` when
    only that exists); only then the next preference. Chinese in traditional characters
    (``zh-TW``, ``zh-Hant``) is not met by the simplified ``zh``.
    """
    by_lower = {tag.lower(): tag for tag in known}
    by_primary: dict[str, str] = {}
    for tag in sorted(known):
        by_primary.setdefault(tag.split("-", 1)[0].lower(), tag)
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:32]):
        tag, *parameters = part.split(";")
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)  # nan fails both: 0
                except ValueError:
                    weight = 0.0
        tag = tag.strip().lower().replace("_", "-")[:35]
        if weight > 0 and tag and tag != "*":
            wanted.append((-weight, index, tag))
    for _, _, tag in sorted(wanted):
        primary = tag.split("-", 1)[0]
        traditional = primary == "zh" and any(tag.startswith(t) for t in _TRADITIONAL)
        candidates = (tag, ALIASES.get(tag, "")) if traditional else (
            tag, ALIASES.get(tag, ""), primary, ALIASES.get(primary, "")
        )  # fmt: skip
        for candidate in candidates:
            if candidate in by_lower:
                return by_lower[candidate]
        if primary in by_primary and not traditional:
            return by_primary[primary]
    return ""


def safe_next(target: str, *, base: str = "") -> str:
    """Where a form may send the browser back to: ``target`` if it is a path on this site
    (under ``base``, when given), else ``base + "/"``.

    The one check for every redirect consentlog answers (the consent routes, the
    dashboard's login): no other host (``//evil``, ``/\\evil``), no scheme, no control
    characters. Non-ASCII is percent-encoded: a Location header is latin-1, and browsers
    expect UTF-8 escapes.
    """
    home = base + "/"
    inside = not base or target == base or target.startswith(home)
    if not (inside and _is_local_path(target)) or _climbs(target):
        return home
    return quote(target, safe="/?#&=;:@!$'()*+,%[]~")


def _climbs(target: str) -> bool:
    """True if the path has a ``.`` or ``..`` segment (also %-encoded), which a browser
    resolves — ``/analytics/../x`` is ``/x``."""
    path = unquote(target.partition("?")[0].partition("#")[0])
    return any(segment in {".", ".."} for segment in path.split("/"))


def _is_local_path(target: str) -> bool:
    return (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and not any(ord(ch) < 0x21 or 0x7F <= ord(ch) < 0xA0 or ch == "\\" for ch in target)
        and len(target) <= 2048
    )
