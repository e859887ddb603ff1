"""Team access in Chromium: each role logs in (the admin with a TOTP code) and sees only
its pages — in the navigation and by typing the URL — and a share link opens its one
report in a browser that never logged in. Screenshots of the login page, a viewer's
overview, an analyst's Pages (with the share form), the admin's Privacy page and a shared
report are kept in /tmp/consentlog-team-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consentlog.dashboard.roles import ROLES
from consentlog.dashboard.users import UserStore
from consentlog.store import Store
from tests.dashboard.support import RANGE
from tests.dashboard.team import PASSWORDS, code_now, team_app, team_store
from tests.helpers import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from tests.browser.live import NewContext

pytest_plugins = ["tests.browser.live"]

SHOTS = Path("/tmp")
NAV = {  # what each role's navigation lists
    "viewer": ["Overview", "Pages", "Goals", "Funnels", "Sources", "Countries", "Bots", "Consent",
               "Errors", "Now"],
    "analyst": ["Overview", "Pages", "Goals", "Funnels", "Sources", "Countries", "Bots", "Consent",
                "Errors", "Now"],
    "privacy": ["Consent", "Privacy"],
    "admin": ["Overview", "Pages", "Goals", "Funnels", "Sources", "Countries", "Bots", "Consent",
              "Errors", "Now", "Privacy"],
}  # fmt: skip
URLS = {  # a URL per kind of route → the roles that may open it
    f"/?{RANGE}": {"viewer", "analyst", "admin"},
    f"/consent?{RANGE}": set(ROLES),
    f"/pages.csv?{RANGE}": {"analyst", "admin"},
    f"/api/pages?{RANGE}": {"analyst", "admin"},
    "/privacy": {"privacy", "admin"},
}


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    return team_store(tmp_path / "users.json", totp=frozenset({"admin"}))


@pytest.fixture
def served(store: Store, dataset: str, users: UserStore) -> Iterator[str]:
    from tests.browser.live import serve  # after pytest_plugins loaded it, so asserts are rewritten

    live = serve(team_app(store, dataset, users))  # type: ignore[arg-type]  # any ASGI app serves
    yield live.url
    live.stop()


def _log_in(page: Page, url: str, role: str, users: UserStore) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill(role)
    page.get_by_label("Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Log in").click()
    if role == "admin":  # the TOTP step
        page.get_by_label("Code").fill(code_now(users, role))
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(consent)?$"))


def _status(context: BrowserContext, url: str) -> int:
    """The status a typed URL answers in this browser (downloads included)."""
    return context.request.get(url, max_redirects=0).status


@pytest.mark.browser
@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_and_opens_only_its_pages(
    served: str, new_context: NewContext, users: UserStore, role: str
) -> None:
    """The navigation lists the role's pages only; a typed URL of another answers 403
    with a page that says so."""
    context = new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    if role == "viewer":
        page.goto(f"{served}/login")
        page.screenshot(path=str(SHOTS / "consentlog-team-login.png"))
    _log_in(page, served, role, users)
    page.goto(f"{served}/consent?{RANGE}")
    assert NAV[role] == page.locator("nav.nav a").all_inner_texts()
    assert f"{role} ({role})" == page.locator(".who").inner_text()
    shots = {"viewer": f"/?{RANGE}", "analyst": f"/pages?{RANGE}", "admin": "/privacy"}
    if role in shots:
        page.goto(served + shots[role])
        page.screenshot(path=str(SHOTS / f"consentlog-team-{role}.png"), full_page=True)
    for url, allowed in URLS.items():
        assert (200 if role in allowed else 403) == _status(context, served + url), url
    if role not in URLS["/privacy"]:
        answer = page.goto(f"{served}/privacy")
        assert answer is not None
        assert 403 == answer.status
        assert f"(role {role}) may not open the data-subject requests" in page.inner_text("main")
    assert [] == [e for e in errors if "403" not in e]  # no CSP violation


@pytest.mark.browser
def test_a_share_link_opens_its_report_without_login(
    served: str, new_context: NewContext, users: UserStore
) -> None:
    """An analyst makes a link from the Pages report; a browser that never logged in
    opens that report read-only, and nothing else."""
    page = new_context().new_page()
    _log_in(page, served, "analyst", users)
    page.goto(f"{served}/pages?{RANGE}&sort=usefulness&order=asc")
    page.get_by_label("Share this report read-only for").select_option("1")
    page.get_by_role("button", name="Create share link").click()
    link = page.get_by_role("textbox", name="Link").input_value()
    assert link.startswith(f"{served}/shared/")

    stranger = new_context()
    shared = stranger.new_page()
    shared.goto(link)
    assert "Page usefulness" in shared.inner_text("main")
    assert 0 == shared.locator("nav.nav").count()
    assert 0 == shared.get_by_role("button", name="Log out").count()
    assert 0 == shared.get_by_role("link", name="Download CSV").count()
    assert 0 == shared.locator("main a").count()  # no way onwards from the report
    shared.screenshot(path=str(SHOTS / "consentlog-team-shared.png"), full_page=True)
    shared.goto(f"{served}/pages?{RANGE}")
    assert shared.url.startswith(f"{served}/login")
    assert 303 == _status(stranger, f"{served}/pages.csv?{RANGE}")
    assert 401 == _status(stranger, f"{served}/api/pages?{RANGE}")


@pytest.mark.browser
def test_the_team_pages_have_no_axe_violations(
    served: str, new_context: NewContext, users: UserStore
) -> None:
    """axe-core finds no violation on the named login, the TOTP step, the Privacy page,
    a 403, the share link page, a shared report and a dead link, light or dark."""
    axe = ROOT / "js/node_modules/axe-core/axe.min.js"
    context = new_context(bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.add_script_tag(path=str(axe))
            violations = page.evaluate("async () => (await axe.run(document)).violations")
            found[f"{scheme} {name}"] = [
                f"{v['id']}: {v['nodes'][0]['html'][:100]}" for v in violations
            ]

    page.goto(f"{served}/login")
    check("login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").wait_for()
    check("totp")
    page.get_by_label("Code").fill(code_now(users, "admin"))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"{served}/privacy")
    check("privacy")
    page.goto(f"{served}/pages?{RANGE}")
    page.locator("details.saved summary").click()
    page.get_by_label("Save this view as").fill("worst first")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("details.saved summary").click()
    assert ["worst first"] == page.locator("details.saved li a").all_inner_texts()
    check("pages with the share form and a saved filter")
    page.get_by_role("button", name="Create share link").click()
    check("share link")
    link = page.get_by_role("textbox", name="Link").input_value()
    page.goto(link)
    check("shared report")
    page.goto(link[:-4] + "AAAA")
    check("dead link")
    viewer = new_context(bypass_csp=True).new_page()
    page = viewer
    _log_in(page, served, "viewer", users)
    page.goto(f"{served}/privacy")
    check("403")
    assert {k: [] for k in found} == found


@pytest.mark.browser
def test_the_team_forms_fit_a_phone(served: str, new_context: NewContext, users: UserStore) -> None:
    """At 390 px the share form, the saved filters and the Privacy forms cause no
    horizontal page overflow."""
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    _log_in(page, served, "admin", users)
    for route in (f"/pages?{RANGE}", "/privacy"):
        page.goto(served + route)
        if route != "/privacy":
            page.locator("details.saved summary").click()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert 0 == overflow, f"{route} overflows by {overflow}px"
    page.screenshot(path=str(SHOTS / "consentlog-team-privacy-phone.png"), full_page=True)
