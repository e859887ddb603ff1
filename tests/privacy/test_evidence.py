"""Banner revisions and the evidence pack, against the real engine: each consent record
names the exact banner it was made on; ``consentlog evidence`` writes one archive of
the records, the revisions they name, the request audit and the settings, with a
manifest of checksums."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.cli import main
from consentlog.dashboard import create_dashboard
from consentlog.privacy.evidence import evidence
from consentlog.privacy.revisions import revision_of
from consentlog.privacy.subject import Subject, export
from consentlog.store import Store
from tests.dashboard.support import SECRET
from tests.dashboard.team import PASSWORDS, log_in, team_store
from tests.helpers import MakeApp, rows

if TYPE_CHECKING:
    from tests.browser.live import NewContext

pytest_plugins = ["tests.browser.live"]

TODAY = datetime.datetime.now(datetime.UTC).date()


def decide(app: object, action: str, language: str) -> str:
    """A new browser decides in ``language``; its consent id."""
    client = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    client.headers["accept-language"] = language
    client.get("/")
    answer = client.post("/_consent", json={"action": action})
    return str(answer.json()["consent_id"])


def stored_revisions(app: ConsentMiddleware) -> int:
    """How many revisions ``banner_revisions`` holds, once the writer's hook (which runs
    after the cycle that wrote the events) has stored them."""
    deadline = time.monotonic() + 20
    while True:
        count = int(rows(app, "SELECT count() AS n FROM {db}.banner_revisions")[0]["n"])
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_each_record_names_the_banner_it_was_made_on(make_stored_app: MakeApp) -> None:
    """A German Accept and an English Decline name their languages' revisions; the
    stored revision's content hashes to its name and holds the texts shown."""
    app = make_stored_app()
    german = decide(app, "accept_all", "de")
    english = decide(app, "reject_all", "en")
    core = app.core
    found = rows(app, "SELECT consent_id, banner_revision FROM {db}.consent_records")
    by_id = {r["consent_id"]: r["banner_revision"] for r in found}
    assert core.revisions["de"].revision == by_id[german]
    assert core.revisions["en"].revision == by_id[english]
    assert len(core.revisions) == stored_revisions(app)
    stored = rows(
        app,
        "SELECT revision, language, content FROM {db}.banner_revisions FINAL"
        " WHERE language IN ('de', 'en') ORDER BY language",
    )
    assert ["de", "en"] == [r["language"] for r in stored]
    for row in stored:
        assert row["revision"] == hashlib.sha256(row["content"].encode()).hexdigest()
    content = json.loads(stored[0]["content"])
    assert core.texts["de"].accept == content["texts"]["accept"]
    assert "Statistik" == content["categories"][1]["label"]


def test_a_revision_changes_with_what_is_shown() -> None:
    """Another text, category word or lifetime is another revision; the same is the same."""
    from consentlog.settings import Settings

    base = Settings(secret_keys=["k" * 40])
    texts = base.banner_texts()["en"]
    same = revision_of(Settings(secret_keys=["j" * 40]), texts)  # keys are not shown
    assert revision_of(base, texts).revision == same.revision
    other = Settings(secret_keys=["k" * 40], consent_max_age=86_400)
    assert revision_of(base, texts).revision != revision_of(other, texts).revision
    worded = Settings(secret_keys=["k" * 40], texts={"en": {"accept": "OK"}})
    assert (
        revision_of(base, texts).revision
        != revision_of(worded, worded.banner_texts()["en"]).revision
    )


def read_pack(pack: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_pack_holds_records_revisions_audit_and_a_manifest(
    make_stored_app: MakeApp, store: Store
) -> None:
    """Every file the README names, each checksum in the manifest right; the records of
    the range with their revisions (no visitor id unless asked); the audit of an
    export; a day outside the range holds nothing."""
    app = make_stored_app()
    consent = decide(app, "accept_all", "fr")
    stored_revisions(app)
    settings = app.settings
    export(store, settings.database, Subject(consent_id=consent), "operator", "cli")
    files = read_pack(evidence(store, settings, TODAY, TODAY))
    assert {
        "consent_records.csv", "banner_revisions.json", "subject_requests.csv",
        "settings.json", "README.txt", "manifest.json",
    } == set(files)  # fmt: skip
    manifest = json.loads(files["manifest.json"])
    for name, facts in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == facts["sha256"], name
    records = list(csv.DictReader(io.StringIO(files["consent_records.csv"].decode())))
    (record,) = [r for r in records if r["consent_id"] == consent]
    assert ("accept_all", "analytics marketing", "") == (
        record["action"],
        record["categories"],
        record["visitor_id"],
    )
    revisions = {r["revision"]: r for r in json.loads(files["banner_revisions.json"])}
    shown = revisions[record["banner_revision"]]
    assert shown["revision"] == shown["sha256_of_content"]
    assert shown["revision"] == hashlib.sha256(shown["content_as_hashed"].encode()).hexdigest()
    assert "fr" == shown["content"]["language"]
    audit = list(csv.DictReader(io.StringIO(files["subject_requests.csv"].decode())))
    assert [("export", "operator", "cli")] == [
        (a["request"], a["channel"], a["actor"]) for a in audit
    ]
    assert 25 == json.loads(files["settings.json"])["retention_months"]
    earlier = read_pack(evidence(store, settings, TODAY - datetime.timedelta(days=9),
                                 TODAY - datetime.timedelta(days=8)))  # fmt: skip
    assert 1 == len(earlier["consent_records.csv"].decode().splitlines())  # the header


def test_identifiers_only_when_asked(make_stored_app: MakeApp, store: Store) -> None:
    """``identifiers=True`` adds the visitor id of a consented record."""
    app = make_stored_app()
    consent = decide(app, "accept_all", "en")
    rows(app, "SELECT 1")
    files = read_pack(evidence(store, app.settings, TODAY, TODAY, identifiers=True))
    records = csv.DictReader(io.StringIO(files["consent_records.csv"].decode()))
    assert next(r for r in records if r["consent_id"] == consent)["visitor_id"]


def test_consentlog_evidence_writes_the_archive(
    make_stored_app: MakeApp, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command writes the ZIP where told and says so; an end before the start is
    refused by name."""
    app = make_stored_app()
    decide(app, "reject_all", "en")
    rows(app, "SELECT 1")
    target = tmp_path / "pack.zip"
    common = ["--clickhouse-url", store_url, "--database", app.settings.database]
    day = str(TODAY)
    assert 0 == main(["evidence", "--start", day, "--end", day, "--output", str(target), *common])
    assert f"{target}: evidence of {day}" in capsys.readouterr().out
    assert "manifest.json" in read_pack(target.read_bytes())
    earlier = str(TODAY - datetime.timedelta(days=1))
    assert 1 == main(["evidence", "--start", day, "--end", earlier, *common])
    assert "is before --start" in capsys.readouterr().err


def test_the_privacy_role_downloads_the_pack_from_the_dashboard(
    make_stored_app: MakeApp, store: Store, tmp_path: Path
) -> None:
    """The Privacy page offers the range's pack; a privacy officer downloads a ZIP that
    holds the day's decision; a viewer may not."""
    app = make_stored_app()
    consent = decide(app, "reject_all", "en")
    stored_revisions(app)
    users = team_store(tmp_path / "users.json")
    dashboard = create_dashboard(
        store,
        database=app.settings.database,
        users=users,
        secret_keys=[SECRET],
        site_settings=app.settings,
    )
    officer = log_in(TestClient(dashboard, base_url="http://testserver"), "privacy")
    assert 'action="/privacy/evidence"' in officer.get("/privacy").text
    answer = officer.get("/privacy/evidence", params={"start": str(TODAY), "end": str(TODAY)})
    assert ("application/zip", "no-store") == (
        answer.headers["content-type"],
        answer.headers["cache-control"],
    )
    assert (
        f'filename="consentlog-evidence-{TODAY}-{TODAY}.zip"'
        in answer.headers["content-disposition"]
    )
    assert consent in read_pack(answer.content)["consent_records.csv"].decode()
    viewer = log_in(TestClient(dashboard, base_url="http://testserver"), "viewer")
    assert 403 == viewer.get("/privacy/evidence", follow_redirects=False).status_code


def test_cells_a_spreadsheet_would_run_are_quoted() -> None:
    """A value starting with = + - @ is written with a leading apostrophe."""
    from consentlog.privacy.evidence import _csv

    text = _csv(["a", "b", "c"], [["=cmd|' /C calc'!A0", "", "ok"]]).decode()
    assert "'=cmd|' /C calc'!A0,,ok" == text.splitlines()[1]


@pytest.mark.browser
def test_a_privacy_officer_downloads_the_pack_in_a_browser(
    make_stored_app: MakeApp, store: Store, tmp_path: Path, new_context: NewContext
) -> None:
    """In Chromium: the privacy officer logs in, opens Privacy, picks today in the
    Evidence pack form and clicks Download; the browser saves a ZIP named for the range
    whose manifest checks out and whose records hold the day's decision."""
    from tests.browser.live import serve  # a plugin module: imported once loaded

    app = make_stored_app()
    consent = decide(app, "accept_all", "de")
    stored_revisions(app)
    dashboard = create_dashboard(
        store,
        database=app.settings.database,
        users=team_store(tmp_path / "users.json"),
        secret_keys=[SECRET],
        site_settings=app.settings,
    )
    live = serve(dashboard)  # type: ignore[arg-type]  # any ASGI app serves
    try:
        page = new_context(accept_downloads=True).new_page()
        page.goto(f"{live.url}/login")
        page.get_by_label("User name").fill("privacy")
        page.get_by_label("Password").fill(PASSWORDS["privacy"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/consent$"))
        page.get_by_role("link", name="Privacy").click()
        pack = page.get_by_role("region", name="Evidence pack")
        pack.get_by_label("From").fill(str(TODAY))
        pack.get_by_label("to", exact=True).fill(str(TODAY))
        with page.expect_download() as download:
            pack.get_by_role("button", name="Download the evidence pack (ZIP)").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
    finally:
        live.stop()
    assert f"consentlog-evidence-{TODAY}-{TODAY}.zip" == saved.name
    files = read_pack(saved.read_bytes())
    for name, facts in json.loads(files["manifest.json"])["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == facts["sha256"], name
    assert consent in files["consent_records.csv"].decode()
