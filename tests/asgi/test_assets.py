"""The banner's script and stylesheet as served: cached for good under their digest,
briefly without it, revalidated by ETag, gzipped when accepted; and the GPC well-known
file."""

from __future__ import annotations

import datetime
import gzip
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from tests.helpers import MakeApp

ASSETS = [("banner.js", "text/javascript"), ("banner.css", "text/css")]


def _asset(middleware: ConsentMiddleware, name: str) -> Any:
    return middleware.script if name == "banner.js" else middleware.stylesheet


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
def test_versioned_asset_is_cached_forever(make_app: MakeApp, name: str, media_type: str) -> None:
    """``?v=<digest>`` is served with its content type and an immutable year-long cache."""
    middleware = make_app()
    asset = _asset(middleware, name)
    response = TestClient(middleware).get(
        f"/_consent/{name}?v={asset.digest}", headers={"accept-encoding": "identity"}
    )
    assert 200 == response.status_code
    assert f"{media_type}; charset=utf-8" == response.headers["content-type"]
    assert "public, max-age=31536000, immutable" == response.headers["cache-control"]
    assert asset.body == response.content
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
@pytest.mark.parametrize("query", ["", "?v=000000000000", "?x=1"])
def test_unversioned_asset_is_cached_briefly(
    client: TestClient, name: str, media_type: str, query: str
) -> None:
    """Without the current digest the asset gets a short, non-immutable cache."""
    response = client.get(f"/_consent/{name}{query}")
    cache = response.headers["cache-control"]
    assert "immutable" not in cache
    max_age = int(re.search(r"max-age=(\d+)", cache).group(1))  # type: ignore[union-attr]
    assert max_age <= 3600


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
def test_asset_etag_revalidates_to_304(make_app: MakeApp, name: str, media_type: str) -> None:
    """The ETag is the digest; sending it back in If-None-Match gives an empty 304."""
    middleware = make_app()
    client = TestClient(middleware)
    first = client.get(f"/_consent/{name}")
    assert f'"{_asset(middleware, name).digest}"' == first.headers["etag"]
    again = client.get(f"/_consent/{name}", headers={"if-none-match": first.headers["etag"]})
    assert 304 == again.status_code
    assert b"" == again.content
    assert first.headers["etag"] == again.headers["etag"]
    stale = client.get(f"/_consent/{name}", headers={"if-none-match": '"000000000000"'})
    assert 200 == stale.status_code


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
def test_asset_is_gzipped_when_accepted(make_app: MakeApp, name: str, media_type: str) -> None:
    """With Accept-Encoding: gzip the asset is sent compressed; Vary says so."""
    middleware = make_app()
    client = TestClient(middleware)
    with client.stream(
        "GET", f"/_consent/{name}", headers={"accept-encoding": "br, gzip;q=0.8"}
    ) as response:
        raw = b"".join(response.iter_raw())
    assert "gzip" == response.headers["content-encoding"]
    assert "Accept-Encoding" == response.headers["vary"]
    assert f"{media_type}; charset=utf-8" == response.headers["content-type"]
    assert _asset(middleware, name).body == gzip.decompress(raw)
    assert len(raw) < len(_asset(middleware, name).body)


def test_injected_banner_links_the_current_digests(make_app: MakeApp) -> None:
    """The banner in a page links both assets by their current digest, and those URLs
    are the immutable ones."""
    middleware = make_app()
    client = TestClient(middleware)
    page = client.get("/").text
    script = f"/_consent/banner.js?v={middleware.script.digest}"
    style = f"/_consent/banner.css?v={middleware.stylesheet.digest}"
    assert f'<script src="{script}" defer></script>' in page
    assert f'<link rel="stylesheet" href="{style}">' in page
    for url in (script, style):
        assert "immutable" in client.get(url).headers["cache-control"]


@pytest.mark.parametrize("tag", ['W/"{d}"', '"x", "{d}"', "*"])
def test_conditional_asset_requests_match_weak_and_listed_etags(
    client: TestClient, tag: str
) -> None:
    """If-None-Match with a weak tag, a list containing ours, or * → 304."""
    digest = client.get("/_consent/banner.js").headers["etag"].strip('"')
    response = client.get("/_consent/banner.js", headers={"if-none-match": tag.format(d=digest)})
    assert 304 == response.status_code


def test_gzip_refused_with_q_zero(client: TestClient) -> None:
    """Accept-Encoding: gzip;q=0 gets the identity body."""
    response = client.get("/_consent/banner.css", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in response.headers


def test_gpc_well_known_file(client: TestClient) -> None:
    """/.well-known/gpc.json declares GPC support with an ISO date."""
    response = client.get("/.well-known/gpc.json")
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert {"gpc", "lastUpdate"} == set(body)
    assert True is body["gpc"]
    datetime.date.fromisoformat(body["lastUpdate"])
    assert [] == response.headers.get_list("set-cookie")
