"""The evidence pack: one ZIP archive a regulator can read, of a date range.

- ``consent_records.csv``: every decision of the range (when, consent id, action,
  categories, policy revision, source, the banner revision it was made on, browser
  family; visitor id and address prefix only when asked for);
- ``banner_revisions.json``: each banner revision those records name, and each first
  shown in the range, with the exact texts and settings (``privacy.revisions``) — the
  SHA-256 of a revision's ``content`` is its name, which anyone can check;
- ``subject_requests.csv``: the audit of data-subject requests (never whom they were
  about);
- ``settings.json``: retention and the other settings the records depend on;
- ``README.txt``: what each file is;
- ``manifest.json``: the SHA-256 and size of every other file, and how the pack was made.

``consentlog evidence`` and the dashboard's Privacy page (role ``privacy``) write it.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from consentlog.analytics.queries import statement
from consentlog.settings import Settings
from consentlog.store import Store

README = """\
consentlog evidence pack: {site} — {start} to {end} (UTC, end included)

consent_records.csv     every consent decision of the range, oldest first: ts (UTC),
                        consent_id (also in the visitor's consent cookie), action
                        (accept_all, reject_all, custom, withdraw, gpc, dnt, region,
                        erase), categories accepted, policy_revision, source (banner,
                        form, gpc, dnt, region), banner_revision, browser family{ids}
banner_revisions.json   the banner each record's banner_revision names: the exact texts
                        and settings shown, as canonical JSON ("content"); its SHA-256
                        in hexadecimal is the revision, so the record proves what was shown
subject_requests.csv    every data-subject request (export, erase) of the range: when,
                        through which channel, who acted, rows, outcome; never whom
settings.json           retention and the settings the records depend on
manifest.json           SHA-256 and size of each file above (check: sha256sum FILE)
"""


def evidence(
    store: Store,
    settings: Settings,
    start: datetime.date,
    end: datetime.date,
    *,
    identifiers: bool = False,
    site: str = "",
) -> bytes:
    """The pack of ``[start, end]`` (days, UTC) as ZIP bytes."""
    db = settings.database
    since = datetime.datetime.combine(start, datetime.time(), datetime.UTC)
    until = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time(), datetime.UTC
    )
    consents = _rows(store, "evidence_consents", db, start=since, end=until,
                     identifiers=int(identifiers))  # fmt: skip
    revisions = _rows(store, "evidence_revisions", db, start=since, end=until)
    requests = _rows(store, "evidence_requests", db, start=since, end=until)
    files: dict[str, bytes] = {
        "consent_records.csv": _csv(*consents),
        "banner_revisions.json": _revisions_json(*revisions),
        "subject_requests.csv": _csv(*requests),
        "settings.json": _json(_settings_of(settings)),
        "README.txt": README.format(
            site=site or settings.database,
            start=start,
            end=end,
            ids=", visitor_id and ip_prefix" if identifiers else "",
        ).encode("utf-8"),
    }
    manifest = {
        "made_by": f"consentlog {_version()}",
        "made_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "range": {"start": start.isoformat(), "end": end.isoformat()},
        "identifiers": identifiers,
        "counts": {
            "consent_records": len(consents[1]),
            "banner_revisions": len(revisions[1]),
            "subject_requests": len(requests[1]),
        },
        "files": {
            name: {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
            for name, body in files.items()
        },
    }
    files["manifest.json"] = _json(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))  # reproducible
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, body)
    return out.getvalue()


def _version() -> str:
    # the installed distribution's, not ``consentlog.__version__``: importing the
    # package's top would pull the ASGI layer into this lower one
    try:
        return version("consentlog")
    except PackageNotFoundError:
        return "unknown"


def file_name(start: datetime.date, end: datetime.date) -> str:
    """The pack's default file name."""
    return f"consentlog-evidence-{start}-{end}.zip"


def _rows(
    store: Store, name: str, db: str, **parameters: Any
) -> tuple[list[str], list[Sequence[Any]]]:
    sql, bound = statement(name, db, **parameters)
    columns, rows = store.query(sql, bound)
    return list(columns), [list(row) for row in rows]


def _text(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return stamp.astimezone(datetime.UTC).isoformat(timespec="milliseconds")
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _csv(columns: list[str], rows: list[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        # a cell a spreadsheet would run as a formula is quoted with a leading apostrophe
        writer.writerow(["'" + t if t and t[0] in "=+-@\t\r" else t for t in map(_text, row)])
    return buffer.getvalue().encode("utf-8")


def _revisions_json(columns: list[str], rows: list[Sequence[Any]]) -> bytes:
    found = []
    for row in rows:
        item = dict(zip(columns, row, strict=True))
        found.append(
            {
                "revision": item["revision"],
                "first_seen": _text(item["first_shown"]),
                "policy_revision": item["policy_revision"],
                "language": item["language"],
                "sha256_of_content": hashlib.sha256(item["content"].encode()).hexdigest(),
                "content": json.loads(item["content"]),
                "content_as_hashed": item["content"],
            }
        )
    return _json(found)


def _settings_of(s: Settings) -> dict[str, object]:
    return {
        "policy_revision": s.policy_revision,
        "retention_months": s.retention_months,
        "consent_max_age_s": s.consent_max_age,
        "visitor_max_age_s": s.visitor_max_age,
        "session_idle_s": s.session_idle,
        "ipv4_prefix_bits": s.ipv4_prefix,
        "ipv6_prefix_bits": s.ipv6_prefix,
        "honor_gpc": s.honor_gpc,
        "honor_dnt": s.honor_dnt,
        "erase_on_withdraw": s.erase_on_withdraw,
        "banner_regions": list(s.banner_regions),
        "outside_default": s.outside_default,
        "categories": [
            {"name": c.name, "required": c.required, "cookie_patterns": list(c.cookie_patterns)}
            for c in s.categories
        ],
        "consent_records_retention": "kept as long as the site keeps them (no TTL)",
    }


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
