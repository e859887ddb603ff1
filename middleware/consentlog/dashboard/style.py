"""The dashboard's stylesheet, served as a file so the pages need no inline style
(the Content-Security-Policy allows styles from the dashboard itself only).

Light and dark schemes follow ``prefers-color-scheme``; text colours meet WCAG AA
contrast on their backgrounds; charts switch to their narrow drawing below 40 rem.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

CSS = """\
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --surface: #ffffff; --text: #1b1e27; --muted: #545a6b;
  --border: #d8dbe3; --grid: #e6e8ee; --accent: #2152c2; --accent-text: #ffffff;
  --flag-bg: #fdecea; --flag-text: #8a1c12; --ok-bg: #e7f5ec; --ok-text: #1c6b3a;
  --c0: #2563eb; --c1: #d0480f; --c2: #2b8a3e; --c3: #a23cbf; --c4: #6c7380; --c5: #b7791f;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14161c; --surface: #1d2029; --text: #e9eaef; --muted: #a8adbb;
    --border: #353a48; --grid: #2a2e3a; --accent: #8fb0ff; --accent-text: #0e1320;
    --flag-bg: #4a1d18; --flag-text: #ffc9c2; --ok-bg: #173523; --ok-text: #b6ecc8;
    --c0: #6ea8fe; --c1: #ff8a4c; --c2: #5fd37a; --c3: #dd86f5; --c4: #aab1bd; --c5: #f2c46d;
  }
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0; font: 15px/1.5 var(--font); color: var(--text); background: var(--bg);
}
a { color: var(--accent); text-underline-offset: 2px; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
h1, h2, h3 { line-height: 1.25; margin: 0; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.1rem; margin-bottom: .75rem; }
code, .path { font-family: var(--mono); font-size: .92em; overflow-wrap: anywhere; }
td .path, th .path { overflow-wrap: break-word; }  /* a path sets its column's width */
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.skip { position: absolute; left: -999px; top: 0; }
.skip:focus { left: 1rem; top: .5rem; background: var(--surface); padding: .5rem; z-index: 2; }
.wrap { width: min(100% - 2rem, 76rem); margin-inline: auto; }

.top { background: var(--surface); border-bottom: 1px solid var(--border); }
.top .wrap {
  display: flex; align-items: center; gap: .5rem 1.5rem; flex-wrap: wrap; padding-block: .6rem;
}
.brand { font-weight: 700; color: var(--text); text-decoration: none; letter-spacing: -.01em; }
.brand span { color: var(--muted); font-weight: 500; }
.nav { flex: 1 1 auto; overflow-x: auto; }
.logout { margin-left: auto; }
.nav ul { display: flex; gap: .25rem; list-style: none; margin: 0; padding: 0; }
.nav a {
  display: block; padding: .35rem .7rem; border-radius: 6px; color: var(--text);
  text-decoration: none; white-space: nowrap;
}
.nav a:hover { background: var(--bg); }
.nav a[aria-current="page"] { background: var(--accent); color: var(--accent-text); }
.logout button {
  font: inherit; background: none; border: 1px solid var(--border); color: var(--text);
  padding: .3rem .7rem; border-radius: 6px; cursor: pointer;
}

main { padding-block: 1.25rem 3rem; }
.pagehead {
  display: flex; flex-wrap: wrap; align-items: end; justify-content: space-between;
  gap: .75rem 1.5rem; margin-bottom: 1.25rem;
}
.pagehead .lead { color: var(--muted); margin: .25rem 0 0; max-width: 46rem; }
.range { display: flex; flex-direction: column; align-items: end; gap: .4rem; margin-left: auto; }
.range .fields { display: flex; flex-wrap: wrap; align-items: end; gap: .5rem; }
.range label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
.range input {
  font: inherit; color: var(--text); background: var(--surface);
  border: 1px solid var(--border); border-radius: 6px; padding: .3rem .45rem;
}
.button, .range button {
  font: inherit; background: var(--accent); color: var(--accent-text); border: 0;
  border-radius: 6px; padding: .4rem .9rem; cursor: pointer; text-decoration: none;
  display: inline-block;
}
.presets { display: flex; flex-wrap: wrap; gap: .2rem .8rem; font-size: .85rem; }
.presets a[aria-current] { font-weight: 650; text-decoration: none; color: var(--text); }

.card, .figure {
  background: var(--surface); border: 1px solid var(--border); border-radius: 10px;
  padding: 1rem 1.1rem; margin: 0 0 1rem;
}
.kpis {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 9.5rem), 1fr));
  gap: .75rem; margin: 0 0 1rem; padding: 0;
}
.kpi { background: var(--surface); border: 1px solid var(--border); border-radius: 10px;
  padding: .8rem 1rem; }
.kpi dt { color: var(--muted); font-size: .85rem; }
.kpi dd { margin: 0; font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.kpi .note { display: block; font-size: .8rem; font-weight: 400; color: var(--muted); }
.cols {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 28rem), 1fr));
  gap: 0 1rem;
}

.figure figcaption { font-weight: 650; margin-bottom: .5rem; }
.chart { display: block; width: 100%; height: auto; }
.chart-narrow { display: none; }
@media (max-width: 40rem) {
  .chart-wide { display: none; }
  .chart-narrow { display: block; }
}
.chart text { font-size: 11px; fill: var(--muted); font-family: var(--font); }
.chart .ylabel { text-anchor: end; }
.chart .xlabels text, .chart .barlabel { text-anchor: middle; }
.chart .barlabel { fill: var(--text); font-weight: 600; }
.chart .grid line { stroke: var(--grid); stroke-width: 1; }
.chart .line { fill: none; stroke: var(--c); stroke-width: 2.5; stroke-linejoin: round; }
.chart .dot, .chart .bar { fill: var(--c); }
.c0 { --c: var(--c0); } .c1 { --c: var(--c1); } .c2 { --c: var(--c2); }
.c3 { --c: var(--c3); } .c4 { --c: var(--c4); } .c5 { --c: var(--c5); }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0;
  margin: .5rem 0 0; font-size: .85rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 3px;
  background: var(--c); margin-right: .35rem; vertical-align: -1px; }
.numbers { margin-top: .5rem; font-size: .85rem; }
.numbers summary { cursor: pointer; color: var(--accent); }

.scroll { overflow-x: auto; position: relative; }  /* contains .sr-only text in cells */
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 650; padding-bottom: .5rem; }
th, td { padding: .45rem .6rem; border-bottom: 1px solid var(--grid); text-align: right;
  vertical-align: top; }
td { white-space: nowrap; }
th { font-size: .8rem; font-weight: 600; color: var(--muted); white-space: nowrap; }
tbody th { color: var(--text); font-weight: 500; font-size: inherit; white-space: normal;
  min-width: 7rem; }
th:first-child, td:first-child, .text { text-align: left; }
thead th a { color: inherit; text-decoration: none; }
thead th a:hover { text-decoration: underline; }
th[aria-sort] { color: var(--text); }
.pages tbody th { min-width: 9rem; max-width: 20rem; }
.pages th:first-child { position: sticky; left: 0; background: var(--surface); z-index: 1; }
tr.flagged th:first-child { box-shadow: inset 4px 0 0 var(--flag-text); }
.badge { display: inline-block; font-size: .75rem; font-weight: 600; padding: .05rem .45rem;
  border-radius: 999px; background: var(--flag-bg); color: var(--flag-text); white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok-text); }
.muted, .na { color: var(--muted); }
.nodata { color: var(--muted); font-style: italic; white-space: nowrap; }
.meter { display: inline-block; vertical-align: middle; margin-left: .4rem; }
.meter rect { fill: var(--grid); } .meter rect + rect { fill: var(--c0); }
.tablehead { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline;
  justify-content: space-between; margin-bottom: .5rem; }
.empty { color: var(--muted); margin: .25rem 0; }
.list { margin: 0; padding-left: 1.1rem; }
.list li { margin: .2rem 0; }

.login { max-width: 24rem; margin: 12vh auto 2rem; }
.login form { display: grid; gap: .75rem; }
.login label { font-weight: 600; }
.login input {
  font: inherit; padding: .55rem .65rem; border: 1px solid var(--muted); border-radius: 6px;
  background: var(--surface); color: var(--text); width: 100%;
}
.alert { background: var(--flag-bg); color: var(--flag-text); padding: .6rem .8rem;
  border-radius: 6px; margin: 0; }
footer { color: var(--muted); font-size: .8rem; padding-bottom: 2rem; }

@media (max-width: 40rem) {
  body { font-size: 14px; }
  h1 { font-size: 1.25rem; }
  .kpi dd { font-size: 1.3rem; }
  .card, .figure { padding: .8rem; border-radius: 8px; }
  .nav { order: 3; flex-basis: 100%; }
  .range { width: 100%; align-items: stretch; margin-left: 0; }
  .range label { flex: 1 1 8rem; }
}
"""

VERSION = hashlib.sha256(CSS.encode()).hexdigest()[:12]  # in the URL: cached until it changes


async def stylesheet(request: Request) -> Response:
    """GET /static/dashboard.css (public: the login page uses it)."""
    return Response(
        CSS,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
