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
