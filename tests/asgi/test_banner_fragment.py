"""The banner's markup: the ``/_consent/banner.html`` fragment, and the return path its
form carries."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import MakeApp


def test_banner_fragment_has_markup_and_stylesheet_but_no_script(make_app: MakeApp) -> None:
    """GET /_consent/banner.html is the banner with its stylesheet link and no script."""
    middleware = make_app()
    client = TestClient(middleware)
    response = client.get("/_consent/banner.html", params={"next": "/docs/a"})
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/html")
    assert "no-store" == response.headers["cache-control"]
    fragment = response.text
    assert fragment.startswith(
        f'<link rel="stylesheet" href="/_consent/banner.css?v={middleware.stylesheet.digest}">'
    )
    assert 'id="cl-banner"' in fragment
    assert 'role="dialog"' in fragment
    assert 'name="next" value="/docs/a"' in fragment
    assert "<script" not in fragment
    assert "<html" not in fragment
    assert [] == response.headers.get_list("set-cookie")


def test_banner_fragment_refuses_a_foreign_next(client: TestClient) -> None:
    """The fragment's form returns only to local paths."""
    fragment = client.get("/_consent/banner.html", params={"next": "//evil.example"}).text
    assert 'name="next" value="/"' in fragment


def test_banner_fragment_follows_the_decision(client: TestClient) -> None:
    """After a decision the fragment's banner is hidden and marked decided."""
    client.post("/_consent", json={"action": "accept_all"})
    fragment = client.get("/_consent/banner.html").text
    assert 'data-decided="1"' in fragment
    assert " hidden>" in fragment


def test_banner_next_keeps_percent_escapes(client: TestClient) -> None:
    """The banner's return path is the raw path: /docs/a%3Fb stays itself."""
    page = client.get("/docs/a%3Fb")
    assert 'name="next" value="/docs/a%3Fb"' in page.text


def test_the_settings_page_shows_the_stored_choice_and_returns(client: TestClient) -> None:
    """GET /_consent/settings — where a data-consent-open link leads without JavaScript —
    is a page with the banner shown, its Settings layer open and the stored choice ticked;
    the form returns to ``next``, else to the same-origin page it was followed from."""
    client.post("/_consent", json={"action": "accept_all"})
    page = client.get("/_consent/settings", params={"next": "/docs/a?x=1"})
    assert 200 == page.status_code
    assert page.text.startswith("<!doctype html>")
    assert "no-store" == page.headers["cache-control"]
    assert 'id="cl-banner"' in page.text
    assert " hidden>" not in page.text.split('id="cl-banner"')[1].split(">")[0] + ">"
    assert '<details class="cl-settings" open>' in page.text
    assert 'value="analytics" checked' in page.text
    assert 'name="next" value="/docs/a?x=1"' in page.text
    followed = client.get("/_consent/settings", headers={"referer": "http://testserver/docs/b"})
    assert 'name="next" value="/docs/b"' in followed.text
    foreign = client.get("/_consent/settings", headers={"referer": "https://evil.example/x"})
    assert 'name="next" value="/"' in foreign.text
    hostile = client.get("/_consent/settings", params={"next": "//evil.example"})
    assert 'name="next" value="/"' in hostile.text
    broken = client.get("/_consent/settings", headers={"referer": "http://[x/"})
    assert 200 == broken.status_code  # not a URL: no page to return to, never a 500
    assert 'name="next" value="/"' in broken.text
    posted = client.post(
        "/_consent",
        data={"action": "reject_all", "next": "/docs/a?x=1"},
        follow_redirects=False,
    )
    assert (303, "/docs/a?x=1") == (posted.status_code, posted.headers["location"])


def test_the_settings_page_is_read_only(client: TestClient) -> None:
    answer = client.post("/_consent/settings")
    assert 405 == answer.status_code
    assert "GET" in answer.json()["error"]


def test_a_decided_visitors_page_carries_only_the_tags(client: TestClient) -> None:
    """After a decision a page gets the stylesheet link and the script tag with the
    decision on it, not the hidden banner (the script fetches it when asked)."""
    client.post("/_consent", json={"action": "reject_all"})
    page = client.get("/").text
    assert 'id="cl-banner"' not in page
    assert 'data-decided="1" data-accepted=""' in page
    assert "banner.css" in page
