"""What ``consentlog scan`` found, as a cookie declaration for a privacy policy: one
entry per cookie or storage key (by kind, name and domain) with its category, provider,
purpose, lifetime and when it was set; and the entries that break consent — anything
beyond necessary present before a decision or after Decline."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

import jinja2

from consentlog.scan.classify import Classification, Classifier
from consentlog.scan.crawl import PHASES, Kind, Phase, Scan
from consentlog.settings import NECESSARY

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("consentlog.scan", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_PHASE_WORDS = {
    "before": "before a choice",
    "declined": "after Decline",
    "accepted": "after Accept",
}
DAY = 86_400
# (unit, its seconds, below how many seconds it is the unit): 30 minutes, 6 months …
_UNITS = (("minute", 60, 3600), ("hour", 3600, DAY), ("day", DAY, 60 * DAY),
          ("month", 30.44 * DAY, 700 * DAY))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    """One cookie or storage key of the declaration."""

    kind: Kind
    name: str
    domain: str
    classification: Classification
    phases: tuple[Phase, ...]  # the visits it was present in, in visit order
    expires: float  # the latest expiry seen; -1: a session cookie or a storage key
    first_page: str

    @property
    def breaks_consent(self) -> bool:
        """Beyond necessary (or unclassified) and present before a choice or after
        Decline."""
        early = "before" in self.phases or "declined" in self.phases
        return early and self.classification.category != NECESSARY

    def duration(self, now: float) -> str:
        """How long it lasts, in words."""
        if self.kind != "cookie":
            return "until cleared" if self.kind == "localStorage" else "the tab's session"
        if self.expires < 0:
            return "the browser session"
        seconds = max(0.0, self.expires - now)
        for unit, size, up_to in _UNITS:
            if seconds < up_to:
                count = max(1, round(seconds / size))
                return f"{count} {unit}{'s' if count != 1 else ''}"
        return f"{round(seconds / (365.25 * DAY))} years"

    def as_dict(self, now: float) -> dict[str, object]:
        c = self.classification
        return {
            "kind": self.kind,
            "name": self.name,
            "domain": self.domain,
            "category": c.category,
            "provider": c.provider,
            "purpose": c.purpose,
            "classified_by": c.source,
            "duration": self.duration(now),
            "expires": None if self.expires < 0 else self.expires,
            "present": list(self.phases),
            "first_page": self.first_page,
            "breaks_consent": self.breaks_consent,
        }


def entries(scan: Scan, classifier: Classifier) -> list[Entry]:
    """The declaration's entries, by category (necessary first), then name."""
    grouped: dict[tuple[Kind, str, str], list[tuple[Phase, str, float]]] = {}
    for s in scan.sightings:
        grouped.setdefault((s.kind, s.name, s.domain), []).append((s.phase, s.page, s.expires))
    found = []
    for (kind, name, domain), seen in grouped.items():
        phases = tuple(p for p in PHASES if any(phase == p for phase, _, _ in seen))
        found.append(
            Entry(
                kind,
                name,
                domain,
                classifier.classify(name, domain, scan.site),
                phases,
                max(expires for _, _, expires in seen),
                seen[0][1],
            )
        )
    order = {NECESSARY: 0, "preferences": 1, "analytics": 2, "marketing": 3}
    return sorted(
        found, key=lambda e: (order.get(e.classification.category, 4), e.name, e.kind, e.domain)
    )


_TEMPLATES.filters["printable"] = lambda text: printable(str(text))


def as_json(scan: Scan, found: list[Entry]) -> str:
    """The scan as one JSON object."""
    return json.dumps(
        {
            "start": scan.start,
            "scanned_at": scan.started,
            "pages": scan.pages,
            "entries": [e.as_dict(scan.started) for e in found],
            "breaks_consent": [e.name for e in found if e.breaks_consent],
        },
        indent=2,
    )


def as_markdown(scan: Scan, found: list[Entry]) -> str:
    """A Markdown cookie declaration, then what breaks consent."""
    lines = [
        f"# Cookies and storage of {scan.start}",
        "",
        f"Scanned {_pages(scan)}.",
        "",
        "| name | type | provider | purpose | category | lasts | present |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in found:
        c = e.classification
        cells = [
            _code(e.name), _kind(e), c.provider or e.domain, c.purpose or "–", c.category,
            e.duration(scan.started), ", ".join(_PHASE_WORDS[p] for p in e.phases),
        ]  # fmt: skip
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    broken = [e for e in found if e.breaks_consent]
    lines += ["", _verdict(broken)]
    lines += [f"- {_code(e.name)} ({e.classification.category}, {_cell(e.domain)}): present "
              f"{', '.join(_PHASE_WORDS[p] for p in e.phases if p != 'accepted')}"
              for e in broken]  # fmt: skip
    return "\n".join(lines) + "\n"


def as_html(scan: Scan, found: list[Entry]) -> str:
    """An HTML cookie declaration (a page to read, or a table to paste)."""
    return _TEMPLATES.get_template("declaration.html").render(
        scan=scan,
        pages=_pages(scan),
        entries=[
            (e, _kind(e), e.duration(scan.started), [_PHASE_WORDS[p] for p in e.phases])
            for e in found
        ],
        broken=[e for e in found if e.breaks_consent],
        verdict=_verdict([e for e in found if e.breaks_consent]),
    )


def printable(text: str) -> str:
    """``text`` with each control, format (bidi) or separator character but the space as
    an escape such as ``\\x1b``: a storage key may hold anything, and must not move a
    terminal's cursor or a table's rows."""
    return "".join(
        ch
        if ch == " " or unicodedata.category(ch)[0] not in "CZ"
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _cell(text: str) -> str:
    """A Markdown table cell: printable, its pipes escaped."""
    return printable(text).replace("|", "\\|")


def _code(name: str) -> str:
    """``name`` as a Markdown code span: fenced by one backtick more than its longest
    run of them (spaced when it starts or ends with one), printable."""
    name = printable(name)
    fence = "`" * (max((len(run) for run in re.findall("`+", name)), default=0) + 1)
    pad = " " if name.startswith("`") or name.endswith("`") else ""
    return f"{fence}{pad}{name}{pad}{fence}"


def _pages(scan: Scan) -> str:
    counts = ", ".join(f"{len(scan.pages.get(p, []))} {_PHASE_WORDS[p]}" for p in PHASES)
    return f"pages: {counts}"


def _kind(entry: Entry) -> str:
    return {
        "cookie": "cookie",
        "localStorage": "local storage",
        "sessionStorage": "session storage",
    }[entry.kind]


def _verdict(broken: list[Entry]) -> str:
    if not broken:
        return "Nothing beyond necessary is present before a choice or after Decline."
    return (
        f"{len(broken)} beyond necessary (or unclassified) present before a choice or after "
        "Decline:"
    )
