"""The dashboard's HTML: the page frame, the login form, and small building blocks.

Plain functions returning strings; every value from outside passes through
``html.escape``. Pages are semantic HTML (landmarks, headings, tables with scoped
headers, labelled form fields) and use no inline style or script, so the strict
Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from consentlog.dashboard.filters import Filters, last_days
from consentlog.dashboard.style import VERSION

NAV: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/pages", "Pages"),
    ("/consent", "Consent"),
    ("/errors", "Errors"),
)
PRESETS = (7, 30, 90)  # days offered as one-click ranges

NO_DATA = '<span class="na" aria-hidden="true">–</span><span class="sr-only">no data</span>'


def esc(value: object) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe in attributes)."""
    return escape(str(value), quote=True)


# -- numbers as people read them -----------------------------------------------------


def count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def percent(value: float | None) -> str:
    """A share 0–1 as a whole percentage (one decimal below 10 %)."""
    if value is None:
        return NO_DATA
    scaled = value * 100
    return f"{scaled:.1f}%" if 0 < scaled < 10 else f"{scaled:.0f}%"


def duration(ms: float | None) -> str:
    """Milliseconds as "4.2 s", "38 s" or "2 min 5 s"."""
    if ms is None:
        return NO_DATA
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def scroll(pct: float | None) -> str:
    """A scroll depth in percent."""
    return NO_DATA if pct is None else f"{pct:.0f}%"


def score(value: int | None) -> str:
    """A usefulness score with a small bar, or "not enough data"."""
    if value is None:
        return '<span class="nodata">not enough data</span>'
    return (
        f"{value}"
        '<svg class="meter" width="48" height="8" viewBox="0 0 48 8" aria-hidden="true">'
        f'<rect width="48" height="8" rx="4"/><rect width="{value * 0.48:.1f}" height="8" '
        'rx="4"/></svg>'
    )


# -- blocks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kpi:
    """One headline number: its label, its value and a note under it (both HTML)."""

    label: str
    value: str
    note: str = ""


def kpis(items: Iterable[Kpi], label: str) -> str:
    """A row of headline numbers as a description list."""
    cells = "".join(
        f'<div class="kpi"><dt>{esc(k.label)}</dt><dd>{k.value}'
        + (f'<span class="note">{k.note}</span>' if k.note else "")
        + "</dd></div>"
        for k in items
    )
    return f'<dl class="kpis" aria-label="{esc(label)}">{cells}</dl>'


def card(title: str, body: str, *, heading_id: str) -> str:
    """A titled section."""
    return (
        f'<section class="card" aria-labelledby="{heading_id}">'
        f'<h2 id="{heading_id}">{esc(title)}</h2>{body}</section>'
    )


def simple_table(
    caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, empty: str
) -> str:
    """A table whose first column names each row; cells are HTML already."""
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(
        f'<th scope="col" class="{"text" if i == 0 else "num"}">{esc(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        f'<tr><th scope="row">{row[0]}</th>' + "".join(f"<td>{c}</td>" for c in row[1:]) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><caption class="sr-only">{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def range_form(base: str, here: str, filters: Filters, keep: dict[str, str]) -> str:
    """The date-range picker: two dates, Apply, and one-click presets."""
    hidden = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in keep.items() if v
    )
    if filters.host:
        hidden += f'<input type="hidden" name="host" value="{esc(filters.host)}">'
    presets = " ".join(
        f'<a href="{esc(base + here + _with_host(last_days(days), filters).query(**keep))}"'
        + (' aria-current="true"' if _is_preset(filters, days) else "")
        + f">Last {days} days</a>"
        for days in PRESETS
    )
    return (
        f'<form class="range" method="get" action="{esc(base + here)}" aria-label="Date range">'
        '<div class="fields">'
        f'<label>From <input type="date" name="start" value="{filters.start.isoformat()}" '
        "required></label>"
        f'<label>To <input type="date" name="end" value="{filters.end.isoformat()}" '
        f'required></label>{hidden}<button type="submit">Apply</button></div>'
        f'<nav class="presets" aria-label="Quick ranges">{presets}</nav></form>'
    )


def _with_host(range_: Filters, filters: Filters) -> Filters:
    return Filters(range_.start, range_.end, filters.host)


def _is_preset(filters: Filters, days: int) -> bool:
    preset = last_days(days)
    return (filters.start, filters.end) == (preset.start, preset.end)


# -- whole documents -------------------------------------------------------------------


def _document(base: str, title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request, no 404 in the log
        f"<title>{esc(title)} · consentlog analytics</title>"
        f'<link rel="stylesheet" href="{esc(base)}/static/dashboard.css?v={VERSION}">'
        f"</head><body>{body}</body></html>"
    )


def page(
    *,
    base: str,
    here: str,
    active: str,
    title: str,
    heading: str,
    filters: Filters,
    body: str,
    lead: str = "",
    keep: dict[str, str] | None = None,
) -> str:
    """A dashboard page: header with navigation and logout, heading, range picker, body.

    ``here`` is the page's route (``/pages``); ``active`` the navigation entry to mark;
    ``keep`` query parameters the range picker carries along (sort order, page path).
    """
    kept = keep or {}
    links = "".join(
        f'<li><a href="{esc(base + path + filters.query())}"'
        + (' aria-current="page"' if path == active else "")
        + f">{esc(label)}</a></li>"
        for path, label in NAV
    )
    header = (
        '<a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><div class="wrap">'
        f'<a class="brand" href="{esc(base)}/">consentlog <span>analytics</span></a>'
        f'<nav class="nav" aria-label="Dashboard"><ul>{links}</ul></nav>'
        f'<form class="logout" method="post" action="{esc(base)}/logout">'
        '<button type="submit">Log out</button></form></div></header>'
    )
    head = (
        f'<div class="pagehead"><div><h1>{heading}</h1>'
        + (f'<p class="lead">{lead}</p>' if lead else "")
        + "</div>"
        + range_form(base, here, filters, kept)
        + "</div>"
    )
    footer = (
        '<footer class="wrap">Aggregates only · days in UTC · '
        f"{filters.start.isoformat()} – {filters.end.isoformat()} ({filters.days} days)"
        + (f" · host {esc(filters.host)}" if filters.host else "")
        + "</footer>"
    )
    return _document(
        base, title, f'{header}<main id="main" class="wrap">{head}{body}</main>{footer}'
    )


def login(*, base: str, next_url: str, error: str = "") -> str:
    """The login form: one field, the dashboard password or an access token."""
    alert = f'<p class="alert" role="alert">{esc(error)}</p>' if error else ""
    body = (
        '<main id="main" class="wrap login"><section class="card" aria-labelledby="login-h">'
        '<h1 id="login-h">consentlog analytics</h1>'
        '<p class="muted">Log in with the dashboard password or an access token.</p>'
        f'<form method="post" action="{esc(base)}/login">{alert}'
        # a username for password managers; there is one account
        '<input type="text" name="username" value="consentlog" autocomplete="username" hidden>'
        '<label for="secret">Password or token</label>'
        '<input id="secret" name="secret" type="password" autocomplete="current-password" '
        "required autofocus>"
        f'<input type="hidden" name="next" value="{esc(next_url)}">'
        '<button class="button" type="submit">Log in</button></form></section></main>'
    )
    return _document(base, "Log in", body)


def error_page(*, base: str, status: int, message: str) -> str:
    """A page that says what went wrong, with a way back."""
    body = (
        '<main id="main" class="wrap login"><section class="card" aria-labelledby="err-h">'
        f'<h1 id="err-h">{status}</h1><p>{esc(message)}</p>'
        f'<p><a href="{esc(base)}/">Back to the overview</a></p></section></main>'
    )
    return _document(base, f"Error {status}", body)
