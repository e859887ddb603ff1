"""The dashboard's HTML: one Jinja2 environment over ``templates/``, and the page frame.

Every page is a template in ``templates/`` (``base.html`` the document, ``page.html`` the
frame with navigation and range picker, one template per page, ``macros.html`` the
blocks). Autoescaping is on and undefined names are errors, so a value from outside is
always text; the only way to put markup into a page is a ``markupsafe.Markup`` value (the
SVG charts). Pages hold no inline style or script, so the strict Content-Security-Policy
holds; the stylesheet is ``static/dashboard.css``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jinja2
from markupsafe import Markup

from consentlog.dashboard.filters import Filters, last_days
from consentlog.dashboard.roles import SHAREABLE, Permission, Principal, landing
from consentlog.dashboard.saved import SavedBox
from consentlog.dashboard.style import VERSION
from consentlog.dashboard.table import cell_text

NAV: tuple[tuple[str, str, Permission], ...] = (  # route, label, what opens it
    ("/", "Overview", "reports"),
    ("/pages", "Pages", "reports"),
    ("/goals", "Goals", "reports"),
    ("/funnels", "Funnels", "reports"),
    ("/sources", "Sources", "reports"),
    ("/countries", "Countries", "reports"),
    ("/bots", "Bots", "reports"),
    ("/consent", "Consent", "consent"),
    ("/errors", "Errors", "reports"),
    ("/now", "Now", "reports"),
    ("/privacy", "Privacy", "privacy"),
)
SHARE_CHOICES = (1, 7, 30)  # days a share link may be made for, from a page
PRESETS = (7, 30, 90)  # days offered as one-click ranges


# -- numbers as people read them (filters; the templates show the no-data mark for None) --


def count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def percent(value: float) -> str:
    """A share 0–1 as a whole percentage (one decimal below 10 %)."""
    scaled = value * 100
    return f"{scaled:.1f}%" if 0 < scaled < 10 else f"{scaled:.0f}%"


def duration(ms: float) -> str:
    """Milliseconds as "4.2 s", "38 s" or "2 min 5 s"."""
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def scroll(pct: float) -> str:
    """A scroll depth in percent."""
    return f"{pct:.0f}%"


def when(moment: datetime.datetime) -> str:
    """A moment to the minute, as the tables show it."""
    return moment.strftime("%Y-%m-%d %H:%M")


def number(value: object, kind: str) -> str:
    """``value`` shown as the ``kind`` of number it is (``count``, ``rate``, ``duration``,
    ``scroll``, as in ``table.Column``); anything else as itself."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if kind == "count" and isinstance(value, int):
        return count(value)
    shown = _MEASURES.get(kind)
    return shown(value) if shown else str(value)


_MEASURES = {"rate": percent, "duration": duration, "scroll": scroll}


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("consentlog.dashboard", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    count=count,
    percent=percent,
    duration=duration,
    scroll=scroll,
    when=when,
    number=number,
    cell_text=cell_text,  # a raw value, as the CSV holds it
)
ENV.globals.update(css_version=VERSION)


def render(name: str, **context: object) -> str:
    """Template ``name`` of ``templates/`` rendered with ``context``."""
    return ENV.get_template(name).render(**context)


def fragment(name: str, **context: object) -> Markup:
    """``render`` as markup to place into a page (escaped as it was rendered)."""
    return Markup(render(name, **context))  # noqa: S704 - the environment autoescapes


# -- the frame of every page ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """A link of the navigation or the range presets, and whether it is the current one."""

    label: str
    href: str
    current: bool


def page(
    name: str,
    *,
    base: str,
    here: str,
    active: str,
    filters: Filters,
    keep: Mapping[str, str] | None = None,
    hosts: Sequence[str] = (),
    principal: Principal | None = None,
    shared: bool = False,
    saved: SavedBox | None = None,
    **context: object,
) -> str:
    """Page template ``name`` (it extends ``page.html``) inside the dashboard's frame.

    ``here`` is the page's route (``/pages``); ``active`` the navigation entry to mark;
    ``keep`` query parameters the range picker carries along (sort order, page path);
    ``hosts`` the hosts of the range, which the picker offers when there are several.
    ``principal`` is who is looking: the navigation lists only what their role opens,
    and the page offers a share link when they may make one. ``shared``: a share
    link's read-only page — no navigation, range picker, logout or share form. ``saved``
    is the user's saved filters box (``saved.SavedBox``), None when they keep none.
    """
    kept = {k: v for k, v in (keep or {}).items() if v}
    nav = [
        Link(label, base + path + filters.query(), path == active)
        for path, label, permission in NAV
        if principal is not None and principal.allows(permission) and not shared
    ]
    presets = []
    for days in PRESETS:
        preset = last_days(days)
        query = Filters(preset.start, preset.end, filters.host).query(**kept)
        current = (filters.start, filters.end) == (preset.start, preset.end)
        presets.append(Link(f"Last {days} days", base + here + query, current))
    return render(
        name,
        base=base,
        here=here,
        filters=filters,
        keep=kept,
        nav=nav,
        presets=presets,
        # the picker offers every host of the range, and the one filtered on even if the
        # range has none; one host alone needs no picker
        hosts=[*hosts, filters.host] if filters.host and filters.host not in hosts else hosts,
        shared=shared,
        saved=saved,
        who=principal.label if principal and not shared else "",
        home=base + (landing(principal) if principal else "/"),
        share_query=filters.query(**kept).removeprefix("?"),
        share_choices=SHARE_CHOICES if _may_share(principal, here, shared) else (),
        **context,
    )


def _may_share(principal: Principal | None, here: str, shared: bool) -> bool:
    return principal is not None and principal.allows("share") and here in SHAREABLE and not shared


def login(*, base: str, next_url: str, error: str = "", named: bool = False) -> str:
    """The login form: a user name and password when ``named`` (a users file), else one
    field, the dashboard password or an access token."""
    return render("login.html", base=base, next_url=next_url, error=error, named=named)


def totp(*, base: str, pending: str, error: str = "") -> str:
    """The second login step: the TOTP code of the user ``pending`` names."""
    return render("totp.html", base=base, pending=pending, error=error)


def error_page(*, base: str, status: int, message: str, home: str = "") -> str:
    """A page that says what went wrong, with a way back (``home``: the first page the
    viewer may open)."""
    return render("error.html", base=base, status=status, message=message, home=home or base + "/")
