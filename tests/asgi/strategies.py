"""Hypothesis strategies for the property tests of ``test_fuzz.py``: header names and
bytes, methods, paths and queries, and decision bodies that mostly fit their content type
(JSON, urlencoded forms, anything else), cut into chunks at random points."""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlencode

from hypothesis import strategies as st

from consentlog.asgi.routes import ACTIONS

latin1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=80)
header_bytes = st.binary(max_size=120) | latin1.map(lambda s: s.encode("latin-1"))
INTERESTING = [
    b"cookie", b"content-type", b"content-length", b"origin", b"sec-fetch-site", b"sec-gpc",
    b"dnt", b"accept-language", b"accept-encoding", b"if-none-match", b"host", b"referer",
    b"user-agent", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"Cookie",
    b"CONTENT-TYPE", b"transfer-encoding",
]  # fmt: skip
header_names = st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=24)
header_lists = st.lists(st.tuples(header_names, header_bytes), max_size=8)
methods = st.sampled_from(["GET", "POST", "DELETE", "HEAD", "PUT", "OPTIONS", "PATCH"]) | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=10
)
CONSENT_PATHS = [
    "/_consent", "/_consent/", "/_consent/withdraw", "/_consent/banner.js", "/_consent/banner.css",
    "/_consent/banner.html", "/.well-known/gpc.json", "/_consent//banner.js",
]  # fmt: skip
paths = st.one_of(
    st.text(max_size=40).map(lambda s: "/" + s),
    st.sampled_from(CONSENT_PATHS),
    st.text(max_size=30).map(lambda s: "/_consent/" + s),
    st.sampled_from(["/", "/docs/a", "/_consentx", "/_consent.json", "/teapot", "/healthz"]),
)
queries = st.one_of(
    st.binary(max_size=80),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4).map(
        lambda d: urlencode(d).encode()
    ),
    st.sampled_from([b"", b"v=1", b"utm_source=x&utm_medium=y", b"next=//evil.example"]),
)
kinds = st.sampled_from(["html", "text"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
category_names = st.sampled_from(["necessary", "analytics", "marketing", "ads", ""]) | st.text(
    max_size=8
)
decision_objects = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(["accept_all", "reject_all", "custom", "withdraw"])
        | st.lists(json_values, max_size=2)
        | st.dictionaries(st.text(max_size=4), json_values, max_size=2)
        | json_values,
        "categories": st.dictionaries(category_names, st.booleans() | json_values, max_size=4)
        | json_values,
    },
)
local_paths = st.text(max_size=20).map(lambda s: "/" + s)
NEXTS = ["/docs/a", "//evil.example", "/\\evil", "https://evil.example/", "/a?b=1&c=%20"]


@st.composite
def form_fields(draw: st.DrawFn) -> bytes:
    """An urlencoded decision form: actions, categories, return paths and stray fields."""
    actions = draw(st.lists(st.sampled_from(sorted(ACTIONS)) | st.text(max_size=8), max_size=2))
    categories = draw(st.lists(category_names, max_size=3))
    nexts = draw(st.lists(local_paths | st.sampled_from(NEXTS) | st.text(max_size=20), max_size=2))
    stray = draw(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=2))
    fields = [
        *(("action", a) for a in actions),
        *(("category", c) for c in categories),
        *(("next", n) for n in nexts),
        *stray,
    ]
    return urlencode(draw(st.permutations(fields))).encode()


# deeper than the recursion limit (which hypothesis raises while it runs), or over 16 KiB
deep_json = st.integers(1, 10_000).map(lambda n: b"[" * n + b"]" * n)
json_bodies = st.one_of(
    decision_objects.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    deep_json,
    st.binary(max_size=300),
)
form_bodies = form_fields() | st.binary(max_size=300)
other_bodies = st.one_of(
    json_bodies,
    form_bodies,
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
JSON_TYPES = [b"application/json", b"application/json; charset=utf-8", b"APPLICATION/JSON",
              b"application/json;;"]  # fmt: skip
FORM_TYPES = [b"application/x-www-form-urlencoded",
              b"application/x-www-form-urlencoded; charset=utf-8"]  # fmt: skip
other_types = st.sampled_from([b"text/plain", b"multipart/form-data; boundary=x", b""])
lengths = st.one_of(
    st.text(st.characters(categories=["Nd", "No"], max_codepoint=255), max_size=4).map(
        lambda s: s.encode("latin-1")
    ),  # numbers as latin-1 sees them: superscripts and fractions count as digits to Python
    st.sampled_from([b"-1", b"1e3", b" 12 ", b"99999999999999999999999", b"0x10"]),
    header_bytes,
)


@st.composite
def decision_requests(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A content type and a body that mostly fit each other."""
    form = draw(st.sampled_from(["json", "form", "other"]))
    if form == "json":
        return draw(st.sampled_from(JSON_TYPES)), draw(json_bodies)
    if form == "form":
        return draw(st.sampled_from(FORM_TYPES)), draw(form_bodies)
    return draw(other_types | header_bytes), draw(other_bodies)


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """``body`` split at random points."""
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]
