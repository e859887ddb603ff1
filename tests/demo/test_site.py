"""The demo site on its own: its content is data, every page it lists is served, and so is
every page the simulated visitors open."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from consentlog.demo.simulate import PROFILES
from consentlog.demo.site import create_site, load_site


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_site())


def test_every_listed_page_is_served_with_its_title(client: TestClient) -> None:
    """Each page, doc and post of content/site.toml answers 200 with its title."""
    site = load_site()
    listed = [(p.path, p.title) for p in site.pages]
    listed += [(f"/docs/{d.slug}", d.title) for d in site.docs]
    listed += [(f"/blog/{p.slug}", p.title) for p in site.posts]
    for path, title in listed:
        response = client.get(path)
        assert 200 == response.status_code, path
        assert f"<title>{title}" in response.text, path


@pytest.mark.parametrize("path", sorted(PROFILES))
def test_simulated_visits_find_their_pages(client: TestClient, path: str) -> None:
    """Each page the simulated visitors open answers with the status they expect, and
    every page they go on to is served."""
    assert PROFILES[path].status == client.get(path).status_code
    for target, _ in PROFILES[path].links:
        assert 200 == client.get(target).status_code, target


def test_feedback_box_only_where_the_content_asks() -> None:
    """Docs and posts leave room for "was this page useful?"; the home page does not."""
    client = TestClient(create_site())
    assert "data-consent-feedback" in client.get("/docs/faq").text
    assert "data-consent-feedback" in client.get("/blog/larkspur-2-3").text
    assert "data-consent-feedback" not in client.get("/").text


def test_stylesheet_is_cached_by_its_content_hash(client: TestClient) -> None:
    """Pages link the stylesheet with a content hash, and it may be cached for a year."""
    version = re.search(r'href="/static/site\.css\?v=([0-9a-f]{12})"', client.get("/").text)
    assert version is not None
    response = client.get(f"/static/site.css?v={version[1]}")
    assert response.headers["content-type"].startswith("text/css")
    assert "public, max-age=31536000, immutable" == response.headers["cache-control"]


def test_pricing_sets_the_host_applications_own_cookies(client: TestClient) -> None:
    """/pricing sets the marketing cookies consentlog is shown removing."""
    cookies = client.get("/pricing").headers.get_list("set-cookie")
    assert ["_ga", "_fbp"] == [c.split("=", 1)[0] for c in cookies]
    assert '<script type="text/plain" data-consent="analytics">' in client.get("/pricing").text
