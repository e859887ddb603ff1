"""The consentlog demo site: "Larkspur", a fictional self-hosted status-page product.

Everything lives in this module: the stylesheet, the page layout and the content.
The site knows nothing about consentlog; wrap :func:`create_site` with the middleware
to see the banner, the consent-gated script on ``/pricing`` and cookie enforcement.
"""

import html
import textwrap
from dataclasses import dataclass
from datetime import date
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["create_site", "page"]

SITE_NAME: Final = "Larkspur"

NAV: Final[tuple[tuple[str, str], ...]] = (
    ("/", "Home"),
    ("/docs", "Docs"),
    ("/pricing", "Pricing"),
    ("/blog", "Blog"),
    ("/about", "About"),
)

THIRTY_DAYS: Final = 3600 * 24 * 30

# ---------------------------------------------------------------------------
# Stylesheet (served from memory at /static/site.css)
# ---------------------------------------------------------------------------

SITE_CSS: Final = """\
:root {
  --bg: #ffffff;
  --surface: #f6f5fb;
  --text: #1f2430;
  --muted: #4f5567;
  --brand: #5b3fa8;
  --brand-dark: #432c84;
  --border: #dcd8ea;
  --code-bg: #1f2430;
  --code-text: #f1f0f7;
  --ok: #17663a;
  --ok-bg: #e6f4ec;
  --warn: #7a4b00;
  --warn-bg: #fff4dc;
  --radius: 10px;
  --max: 72rem;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}

*, *::before, *::after { box-sizing: border-box; }

html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }

body {
  margin: 0;
  /* Room for a bottom-anchored consent banner so it never hides the footer. */
  padding-bottom: 6rem;
  min-height: 100vh;
  display: flex;
  flex-direction: column;
  font-family: var(--font);
  font-size: 1.0625rem;
  line-height: 1.6;
  color: var(--text);
  background: var(--bg);
}

main { flex: 1 0 auto; padding-block: 2rem 3rem; }

.wrap { width: min(100% - 2rem, var(--max)); margin-inline: auto; }
.prose { max-width: 44rem; }

h1, h2, h3 { line-height: 1.25; margin: 1.6em 0 0.5em; }
h1 { font-size: clamp(1.75rem, 1.2rem + 2.4vw, 2.6rem); margin-top: 0; }
h2 { font-size: 1.45rem; }
h3 { font-size: 1.15rem; }
p, ul, ol, dl, pre, table, blockquote { margin: 0 0 1rem; }
ul, ol { padding-left: 1.4rem; }
li + li { margin-top: 0.3rem; }
dt { font-weight: 650; margin-top: 1rem; }
dd { margin: 0.25rem 0 0; }
img { max-width: 100%; height: auto; }

a { color: var(--brand); text-underline-offset: 0.18em; }
a:hover { color: var(--brand-dark); }
:focus-visible { outline: 3px solid var(--brand); outline-offset: 2px; border-radius: 3px; }

code, pre { font-family: var(--mono); font-size: 0.9em; }
:not(pre) > code {
  background: var(--surface);
  border: 1px solid var(--border);
  border-radius: 4px;
  padding: 0.05em 0.3em;
  overflow-wrap: anywhere;
}
pre {
  background: var(--code-bg);
  color: var(--code-text);
  border-radius: var(--radius);
  padding: 1rem 1.1rem;
  overflow-x: auto;
  line-height: 1.5;
  font-size: 0.85rem;
}

blockquote {
  margin-inline: 0;
  padding: 0.75rem 1rem;
  border-left: 4px solid var(--brand);
  background: var(--surface);
  border-radius: 0 var(--radius) var(--radius) 0;
}

.table-wrap { overflow-x: auto; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
th, td { text-align: left; vertical-align: top; padding: 0.55rem 0.7rem; }
th { background: var(--surface); }
tr { border-bottom: 1px solid var(--border); }

.muted { color: var(--muted); }
.lead { font-size: 1.15rem; }
.small { font-size: 0.9rem; }

/* Skip link */
.skip-link { position: absolute; left: -999px; top: 0.5rem; }
.skip-link:focus { left: 0.5rem; background: var(--bg); padding: 0.5rem 0.75rem; z-index: 10; }

/* Header */
.site-header { border-bottom: 1px solid var(--border); background: var(--bg); }
.site-header .wrap {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  justify-content: space-between;
  gap: 0.5rem 1.5rem;
  padding-block: 0.8rem;
}
.brand {
  display: inline-flex;
  align-items: center;
  gap: 0.5rem;
  font-weight: 750;
  font-size: 1.2rem;
  color: var(--text);
  text-decoration: none;
}
.brand-mark {
  width: 1.4rem;
  height: 1.4rem;
  border-radius: 50% 50% 50% 8%;
  background: var(--brand);
}
.site-nav ul {
  list-style: none;
  margin: 0;
  padding: 0;
  display: flex;
  flex-wrap: wrap;
  gap: 0.15rem;
}
.site-nav li + li { margin-top: 0; }
.site-nav a {
  display: block;
  padding: 0.35rem 0.6rem;
  border-radius: 6px;
  color: var(--text);
  text-decoration: none;
  font-weight: 550;
}
.site-nav a:hover { background: var(--surface); }
.site-nav a[aria-current="page"] { background: var(--surface); color: var(--brand); }
@media (max-width: 30rem) {
  .site-nav ul { margin-left: -0.45rem; gap: 0; }
  .site-nav a { padding: 0.3rem 0.45rem; font-size: 1rem; }
}

/* Footer */
.site-footer {
  border-top: 1px solid var(--border);
  background: var(--surface);
  font-size: 0.95rem;
}
.site-footer .wrap {
  display: flex;
  flex-wrap: wrap;
  justify-content: space-between;
  gap: 0.75rem 2rem;
  padding-block: 1.5rem;
}
.site-footer p { margin: 0; color: var(--muted); }
.site-footer ul {
  list-style: none;
  margin: 0;
  padding: 0;
  display: flex;
  flex-wrap: wrap;
  gap: 0.5rem 1.25rem;
}
.site-footer li + li { margin-top: 0; }

/* Buttons */
.button {
  display: inline-block;
  padding: 0.65rem 1.1rem;
  border-radius: 8px;
  border: 2px solid var(--brand);
  background: var(--brand);
  color: #ffffff;
  font-weight: 650;
  text-decoration: none;
}
.button:hover { background: var(--brand-dark); border-color: var(--brand-dark); color: #ffffff; }
.button.secondary { background: transparent; color: var(--brand); }
.button.secondary:hover { background: var(--surface); color: var(--brand-dark); }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; margin: 1.5rem 0; }

/* Home */
.hero { display: grid; gap: 2rem; align-items: center; padding-block: 1rem 2rem; }
.hero .lead { font-size: 1.2rem; color: var(--muted); max-width: 36rem; }
.status-card {
  border: 1px solid var(--border);
  border-radius: var(--radius);
  padding: 1.1rem 1.2rem;
  background: var(--bg);
  box-shadow: 0 8px 24px rgb(31 36 48 / 8%);
}
.status-card h2 { margin: 0 0 0.75rem; font-size: 1.05rem; }
.status-banner {
  background: var(--ok-bg);
  color: var(--ok);
  font-weight: 650;
  border-radius: 8px;
  padding: 0.55rem 0.8rem;
  margin-bottom: 0.75rem;
}
.status-list { list-style: none; padding: 0; margin: 0; }
.status-list li {
  display: flex;
  justify-content: space-between;
  gap: 1rem;
  padding: 0.45rem 0;
  border-bottom: 1px solid var(--border);
}
.status-list li + li { margin-top: 0; }
.status-list li:last-child { border-bottom: 0; }
.state-ok { color: var(--ok); font-weight: 600; }
.state-warn { color: var(--warn); font-weight: 600; }

.features { display: grid; gap: 1.25rem; padding: 0; list-style: none; }
.features li + li { margin-top: 0; }
.features li, .plan, .card {
  border: 1px solid var(--border);
  border-radius: var(--radius);
  padding: 1.1rem 1.2rem;
  background: var(--bg);
}
.features h3, .card h2, .card h3 { margin-top: 0; }
.features p, .card p:last-child { margin-bottom: 0; }

@media (min-width: 48rem) {
  .hero { grid-template-columns: 1.3fr 1fr; }
  .features { grid-template-columns: repeat(3, 1fr); }
}

/* Pricing */
.plans {
  display: grid;
  gap: 1.25rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 16rem), 1fr));
  margin-bottom: 2rem;
}
.plan { display: flex; flex-direction: column; }
.plan h2 { margin-top: 0; font-size: 1.25rem; }
.plan .price { font-size: 2rem; font-weight: 750; margin: 0; }
.plan .price small { font-size: 0.95rem; font-weight: 500; color: var(--muted); }
.plan ul { flex: 1; }
.plan.featured { border: 2px solid var(--brand); }
.plan .button { text-align: center; }
.badge {
  display: inline-block;
  font-size: 0.78rem;
  font-weight: 700;
  letter-spacing: 0.03em;
  text-transform: uppercase;
  color: var(--brand-dark);
  background: var(--surface);
  border-radius: 999px;
  padding: 0.1rem 0.6rem;
  margin-bottom: 0.5rem;
  align-self: flex-start;
}
.note {
  border: 1px dashed var(--border);
  background: var(--surface);
  border-radius: var(--radius);
  padding: 0.75rem 1rem;
  font-size: 0.95rem;
}

/* Docs */
.docs-layout { display: grid; gap: 2rem; grid-template-columns: minmax(0, 1fr); }
.docs-nav h2 {
  font-size: 0.85rem;
  text-transform: uppercase;
  letter-spacing: 0.05em;
  margin: 0 0 0.5rem;
}
.docs-nav ul { list-style: none; padding: 0; margin: 0; }
.docs-nav li + li { margin-top: 0.1rem; }
.docs-nav a { display: block; padding: 0.3rem 0.6rem; border-radius: 6px; text-decoration: none; }
.docs-nav a[aria-current="page"] { background: var(--surface); font-weight: 650; }
@media (min-width: 52rem) {
  .docs-layout { grid-template-columns: 13rem minmax(0, 1fr); }
  .docs-nav { position: sticky; top: 1rem; align-self: start; }
}

.entry-list { list-style: none; padding: 0; display: grid; gap: 1rem; }
.entry-list li + li { margin-top: 0; }
.entry-list h2 { margin: 0 0 0.25rem; font-size: 1.2rem; }
.entry-list p { margin: 0; }

.pager {
  display: flex;
  flex-wrap: wrap;
  justify-content: space-between;
  gap: 1rem;
  margin-top: 2.5rem;
}

/* 404 */
.not-found { text-align: center; padding-block: 2rem; margin-inline: auto; }
.not-found .code { font-size: 4rem; font-weight: 800; color: var(--brand); margin: 0; }
.not-found .actions { justify-content: center; }
.feedback { margin: 2rem 0; padding: 1rem; border: 1px solid #c9ced6; border-radius: 8px; }
.feedback:empty { display: none; }
.feedback button { margin-left: 0.5rem; padding: 0.4rem 1rem; min-height: 44px; font: inherit; }
"""


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------


def code_block(source: str, language: str = "") -> str:
    """Render ``source`` (dedented, HTML-escaped) as a ``<pre><code>`` block."""
    cls = f' class="language-{html.escape(language)}"' if language else ""
    text = textwrap.dedent(source).strip("\n")
    return f"<pre><code{cls}>{html.escape(text, quote=False)}</code></pre>"


def _nav_html(active: str) -> str:
    items = []
    for href, label in NAV:
        current = ' aria-current="page"' if href == active else ""
        items.append(f'<li><a href="{href}"{current}>{html.escape(label)}</a></li>')
    return "".join(items)


def page(title: str, body_html: str, *, active: str = "", description: str = "") -> str:
    """Wrap ``body_html`` (trusted HTML) in the full site layout.

    ``title`` and ``description`` are escaped; ``active`` is the nav href to highlight.
    The document ends exactly with ``</body></html>``.
    """
    full_title = SITE_NAME if title == SITE_NAME else f"{html.escape(title)} &middot; {SITE_NAME}"
    meta_description = description or (
        "Larkspur is a self-hosted status page: uptime checks, incident updates and "
        "subscriber notifications from your own servers."
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{full_title}</title>
<meta name="description" content="{html.escape(meta_description)}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<a class="skip-link" href="#content">Skip to content</a>
<header class="site-header">
<div class="wrap">
<a class="brand" href="/"><span class="brand-mark" aria-hidden="true"></span>{SITE_NAME}</a>
<nav class="site-nav" aria-label="Main"><ul>{_nav_html(active)}</ul></nav>
</div>
</header>
<main id="content">
<div class="wrap">
{body_html}
</div>
</main>
<footer class="site-footer">
<div class="wrap">
<p>&copy; 2026 Larkspur Software Ltd. Status pages you host yourself.</p>
<ul>
<li><a href="/privacy">Privacy</a></li>
<li><a href="/privacy#cookies" data-consent-open>Cookie settings</a></li>
<li><a href="/docs">Docs</a></li>
<li><a href="/about">Contact</a></li>
</ul>
</div>
</footer>
</body></html>"""


def _format_date(day: date) -> str:
    return f'<time datetime="{day.isoformat()}">{day.day} {day:%B %Y}</time>'


# ---------------------------------------------------------------------------
# Content: home, pricing, about, privacy
# ---------------------------------------------------------------------------

QUICKSTART_SNIPPET: Final = code_block(
    """
    docker run -d --name larkspur -p 8080:8080 \\
      -v larkspur-data:/var/lib/larkspur \\
      ghcr.io/larkspur/larkspur:2.3
    """,
    "shell",
)

HOME_BODY: Final = f"""
<section class="hero">
<div>
<h1>Tell your users what&rsquo;s going on, from servers you control.</h1>
<p class="lead">Larkspur is a self-hosted status page. It checks your services, shows their
health in plain language and keeps subscribers informed during incidents &mdash; without
sending your data to anyone else.</p>
<div class="actions">
<a class="button" href="/docs/getting-started">Get started in 5 minutes</a>
<a class="button secondary" href="/pricing">See pricing</a>
</div>
</div>
<aside class="status-card" aria-label="Example status page">
<h2>status.example.com</h2>
<div class="status-banner">All systems operational</div>
<ul class="status-list">
<li><span>Website</span><span class="state-ok">Operational</span></li>
<li><span>Public API</span><span class="state-ok">Operational</span></li>
<li><span>Webhooks</span><span class="state-warn">Degraded</span></li>
<li><span>Dashboard</span><span class="state-ok">Operational</span></li>
</ul>
</aside>
</section>

<h2>Everything a status page needs, nothing it doesn&rsquo;t</h2>
<ul class="features">
<li><h3>Built-in checks</h3>
<p>HTTP, TCP, DNS and TLS-expiry checks run from the same binary. Components flip to
&ldquo;degraded&rdquo; or &ldquo;down&rdquo; only after repeated failures, so a single blip
never pages your customers.</p></li>
<li><h3>Incidents people can follow</h3>
<p>Post updates from the admin UI, the API or your chat tool. Every update is timestamped,
and subscribers get it by email, RSS or webhook.</p></li>
<li><h3>Yours to run</h3>
<p>One container, SQLite or PostgreSQL, 256&nbsp;MB of RAM. The public page sets no
cookies and loads no third-party scripts.</p></li>
</ul>

<h2>Try it now</h2>
<p>Run the container, open <code>http://localhost:8080/admin</code> and follow the setup
link printed in the logs:</p>
{QUICKSTART_SNIPPET}
<p>Then read the <a href="/docs/getting-started">getting-started guide</a> to add your first
component and check.</p>
"""

PRICING_BODY: Final = """
<h1>Pricing</h1>
<p class="lead muted">Every plan is self-hosted. Licence keys are verified offline, so your
status page never depends on our servers.</p>

<div class="plans">
<section class="plan">
<h2>Community</h2>
<p class="price">$0 <small>forever</small></p>
<ul>
<li>Unlimited components and checks</li>
<li>Incidents and scheduled maintenance</li>
<li>Email and RSS subscribers</li>
<li>REST API</li>
<li>Community forum support</li>
</ul>
<a class="button secondary" href="/docs/getting-started">Download</a>
</section>
<section class="plan featured">
<span class="badge">Most popular</span>
<h2>Team</h2>
<p class="price">$29 <small>per instance / month</small></p>
<ul>
<li>Everything in Community</li>
<li>Multiple status pages per instance</li>
<li>Slack, Microsoft Teams and SMS notifications</li>
<li>Single sign-on with OpenID Connect</li>
<li>Email support, answered within one business day</li>
</ul>
<a class="button" href="/about">Start a 30-day trial</a>
</section>
<section class="plan">
<h2>Enterprise</h2>
<p class="price">Custom</p>
<ul>
<li>Everything in Team</li>
<li>SAML and SCIM provisioning</li>
<li>Audit-log export</li>
<li>Uptime SLA for the software and a named engineer</li>
<li>Help with high-availability deployments</li>
</ul>
<a class="button secondary" href="/about">Talk to us</a>
</section>
</div>

<section class="prose">
<h2>Questions about plans</h2>
<dl>
<dt>What counts as an instance?</dt>
<dd>One running Larkspur server with its own database. Standby replicas for failover are
free.</dd>
<dt>Can I switch plans later?</dt>
<dd>Yes. Enter a new licence key in <em>Admin &rarr; Licence</em>; no reinstall is needed and
your data stays where it is.</dd>
<dt>Do you offer discounts?</dt>
<dd>Team is free for registered charities and open-source projects. Write to
<a href="mailto:sales@larkspur.example">sales@larkspur.example</a>.</dd>
</dl>
<p class="note">Demo note: this page carries a placeholder analytics tag and sets two
marketing cookies (<code>_ga</code>, <code>_fbp</code>) so you can see how consent is
enforced.</p>
</section>
<script type="text/plain" data-consent="analytics">window.demoAnalyticsLoaded = true;</script>
"""

ABOUT_BODY: Final = """
<div class="prose">
<h1>About Larkspur</h1>
<p>Larkspur started in 2021 when three operations engineers got tired of explaining outages
on a status page that was itself hosted by a company having an outage. We wanted something
small enough to run anywhere, honest enough to show partial failures, and private enough
that a visit to it does not feed anyone&rsquo;s ad profile.</p>
<p>Today Larkspur Software Ltd is a team of nine, fully remote across four time zones. The
Community edition is open source under the Apache&nbsp;2.0 licence, and paid plans fund its
development. We have never taken outside investment.</p>
<h2>What we believe</h2>
<ul>
<li><strong>Say what is broken.</strong> A status page that is always green is worse than
none.</li>
<li><strong>Boring technology.</strong> One binary, one database, plain HTML.</li>
<li><strong>Your users are not our product.</strong> The public page sets no cookies and
loads no third-party code.</li>
</ul>
<h2>Contact</h2>
<p>Sales and trials: <a href="mailto:sales@larkspur.example">sales@larkspur.example</a><br>
Support: <a href="mailto:support@larkspur.example">support@larkspur.example</a><br>
Privacy: <a href="mailto:privacy@larkspur.example">privacy@larkspur.example</a></p>
</div>
"""

PRIVACY_BODY: Final = """
<div class="prose">
<h1>Privacy policy</h1>
<p class="muted">Last updated 2 March 2026.</p>
<p>This policy covers the Larkspur website (this site). It does not cover status pages that
our customers host themselves; those are run by the customer, who decides what is
collected.</p>

<h2>Who we are</h2>
<p>Larkspur Software Ltd is the controller for personal data processed on this site. You can
reach our privacy contact at
<a href="mailto:privacy@larkspur.example">privacy@larkspur.example</a>.</p>

<h2>What we collect</h2>
<ul>
<li><strong>Request logs:</strong> the page requested, time, referrer, browser type and a
shortened IP address. We keep them for 30 days to keep the site secure and working
(legitimate interest).</li>
<li><strong>Messages you send us:</strong> when you email sales or support we keep the
conversation for as long as we have a business relationship, plus two years.</li>
<li><strong>Usage statistics:</strong> only if you allow analytics cookies (see below).</li>
</ul>
<p>We do not sell personal data, and we never use it to build advertising profiles of
visitors to our customers&rsquo; status pages.</p>

<h2 id="cookies">Cookies</h2>
<p>We group cookies into three categories. Only necessary cookies are set without your
consent; you can change your choice at any time with the
<a href="/privacy#cookies" data-consent-open>Cookie settings</a> link in the footer.</p>
<div class="table-wrap">
<table>
<thead><tr><th scope="col">Category</th><th scope="col">Purpose</th>
<th scope="col">Default</th></tr></thead>
<tbody>
<tr><th scope="row">Necessary</th><td>Remember your cookie choice and keep the site secure.
These cannot be switched off.</td><td>Always on</td></tr>
<tr><th scope="row">Analytics</th><td>Count page views and see which documentation pages
help, using aggregated statistics.</td><td>Off until you allow it</td></tr>
<tr><th scope="row">Marketing</th><td>Measure whether our adverts lead to visits
(for example <code>_ga</code> and <code>_fbp</code>).</td><td>Off until you allow it</td></tr>
</tbody>
</table>
</div>
<p>Withdrawing consent is as easy as giving it, and takes effect immediately; cookies from a
category you switch off are removed on your next visit.</p>

<h2>Your rights</h2>
<p>Under the GDPR and similar laws you have the right to:</p>
<ul>
<li>access the personal data we hold about you and get a copy of it;</li>
<li>have inaccurate data corrected;</li>
<li>have your data erased, or its processing restricted;</li>
<li>object to processing based on our legitimate interests;</li>
<li>receive your data in a portable, machine-readable format;</li>
<li>withdraw consent at any time, without affecting earlier processing;</li>
<li>complain to your local data-protection supervisory authority.</li>
</ul>
<p>To use any of these rights, email
<a href="mailto:privacy@larkspur.example">privacy@larkspur.example</a>. We answer within
one month.</p>
</div>
"""


# ---------------------------------------------------------------------------
# Content: documentation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Doc:
    """One documentation page; ``body`` is trusted HTML."""

    title: str
    summary: str
    body: str


@dataclass(frozen=True, slots=True)
class Post:
    """One blog post; ``body`` is trusted HTML."""

    title: str
    published: date
    summary: str
    body: str


# Code samples used in the docs and blog (plain text; code_block() escapes them).
_SETUP_LINK_LOGS: Final = code_block("docker logs larkspur 2>&1 | grep 'setup link'", "shell")

_DOCKER_RUN: Final = code_block(
    """
    docker volume create larkspur-data
    docker run -d --name larkspur --restart unless-stopped \\
      -p 8080:8080 \\
      -v larkspur-data:/var/lib/larkspur \\
      -e LARKSPUR_PUBLIC_URL=https://status.example.com \\
      ghcr.io/larkspur/larkspur:2.3
    """,
    "shell",
)

_CADDYFILE: Final = code_block(
    """
    status.example.com {
        reverse_proxy localhost:8080
    }
    """,
    "caddy",
)

_EXAMPLE_TOML: Final = code_block(
    """
    public_url = "https://status.example.com"
    title = "Example Status"
    timezone = "Europe/Berlin"

    [database]
    url = "sqlite:///var/lib/larkspur/larkspur.db"

    [[component]]
    id = "api"
    name = "Public API"
    group = "Core"

    [[check]]
    component = "api"
    type = "http"
    url = "https://api.example.com/healthz"
    interval = "30s"
    timeout = "5s"
    failures_before_down = 3

    [notifications.email]
    smtp_url = "smtps://status:${SMTP_PASSWORD}@smtp.example.com:465"
    from = "status@example.com"
    """,
    "toml",
)

_CHECK_AND_RELOAD: Final = code_block(
    """
    larkspur config check /etc/larkspur/larkspur.toml
    kill -HUP "$(pidof larkspur)"   # reload without dropping check history
    """,
    "shell",
)

_CURL_OPEN_INCIDENT: Final = code_block(
    """
    curl -X POST https://status.example.com/api/v1/incidents \\
      -H "Authorization: Bearer $LARKSPUR_TOKEN" \\
      -H "Content-Type: application/json" \\
      -d '{
            "title": "Webhook deliveries delayed",
            "components": {"webhooks": "degraded"},
            "message": "Deliveries are running about 10 minutes late. We are investigating.",
            "notify": true
          }'
    """,
    "shell",
)

_INCIDENT_RESPONSE: Final = code_block(
    """
    {
      "id": "inc_01HV3Q9Z7K",
      "state": "investigating",
      "url": "https://status.example.com/incidents/inc_01HV3Q9Z7K"
    }
    """,
    "json",
)

_INCIDENT_TEMPLATE: Final = code_block(
    '''
    [[incident_template]]
    name = "Degraded performance"
    message = """
    {component} is slower than usual. Requests still succeed but may take
    several seconds. We are investigating. Next update by {next_update}.
    """
    ''',
    "toml",
)

_PROBE_COMMAND: Final = code_block(
    """
    # on a small VM in another region
    larkspur probe --server https://status.example.com \\
      --token "$LARKSPUR_PROBE_TOKEN" --name eu-west
    """,
    "shell",
)

_GETTING_STARTED: Final = f"""
<p>This guide takes you from nothing to a public status page with one monitored service.
It assumes a Linux host with Docker; see <a href="/docs/faq">the FAQ</a> for other ways to
install.</p>

<h2>Requirements</h2>
<ul>
<li>Linux on x86-64 or arm64, 1 CPU core and 256&nbsp;MB of RAM.</li>
<li>SQLite (bundled, the default) or PostgreSQL 14 or newer.</li>
<li>A DNS name such as <code>status.example.com</code> and a reverse proxy that terminates
TLS.</li>
</ul>

<h2>1. Start the server</h2>
{_DOCKER_RUN}
<p>On first start Larkspur creates its database and prints a one-time setup link:</p>
{_SETUP_LINK_LOGS}

<h2>2. Create the admin account</h2>
<p>Open the setup link, choose an email address and password, and turn on two-factor
authentication. The link stops working once the first account exists.</p>

<h2>3. Add a component and a check</h2>
<ol>
<li>In <em>Admin &rarr; Components</em>, add a component called &ldquo;Website&rdquo;.</li>
<li>In <em>Admin &rarr; Checks</em>, add an HTTP check for
<code>https://www.example.com/</code> every 30 seconds, linked to &ldquo;Website&rdquo;.</li>
<li>Open <code>http://localhost:8080/</code>: the component appears as
&ldquo;Operational&rdquo; after the first successful check.</li>
</ol>

<h2>4. Put it on the internet</h2>
<p>Point your DNS name at the host and proxy it to port 8080. For Caddy this is the whole
configuration:</p>
{_CADDYFILE}
<p>Next, read <a href="/docs/configuration">Configuration</a> to keep your components and
checks in a file under version control.</p>
"""

_CONFIGURATION: Final = f"""
<p>Everything you can click in the admin UI can also be set in <code>larkspur.toml</code>.
Larkspur reads it from <code>/etc/larkspur/larkspur.toml</code>, or from the path in the
<code>LARKSPUR_CONFIG</code> environment variable. Items defined in the file are shown as
locked in the admin UI.</p>

<h2>Example</h2>
{_EXAMPLE_TOML}

<h2>Important settings</h2>
<div class="table-wrap">
<table>
<thead><tr><th scope="col">Key</th><th scope="col">Default</th>
<th scope="col">Meaning</th></tr></thead>
<tbody>
<tr><td><code>public_url</code></td><td>none</td><td>Address of the public page; used in
emails, RSS and links. Required.</td></tr>
<tr><td><code>database.url</code></td><td>SQLite in the data directory</td><td>
<code>sqlite:///path</code> or <code>postgresql://user@host/db</code>.</td></tr>
<tr><td><code>check.interval</code></td><td><code>60s</code></td><td>How often a check runs;
the minimum is <code>10s</code>.</td></tr>
<tr><td><code>check.failures_before_down</code></td><td><code>2</code></td><td>Consecutive
failures before the component is marked down.</td></tr>
<tr><td><code>history_days</code></td><td><code>90</code></td><td>How many days of uptime
history the public page shows.</td></tr>
</tbody>
</table>
</div>

<h2>Environment variables</h2>
<p>Any key can be overridden with an environment variable: prefix it with
<code>LARKSPUR_</code>, upper-case it and turn dots into double underscores. For example
<code>database.url</code> becomes <code>LARKSPUR_DATABASE__URL</code>. Settings written as
<code>${{NAME}}</code> inside the file are filled in from the environment, which keeps secrets
out of version control.</p>

<h2>Checking and reloading</h2>
{_CHECK_AND_RELOAD}
<p>An invalid file is rejected on reload and the running configuration is kept; the error
is logged with the line number.</p>
"""

_API: Final = f"""
<p>The REST API lets you read status and post incidents from scripts, CI pipelines or your
alerting tool. All endpoints live under <code>/api/v1</code> and speak JSON.</p>

<h2>Authentication</h2>
<p>Create a token in <em>Admin &rarr; API tokens</em> and send it as a bearer token. Tokens
have scopes: <code>read</code>, <code>incidents:write</code> and
<code>components:write</code>. Reading the public status needs no token.</p>

<h2>Endpoints</h2>
<div class="table-wrap">
<table>
<thead><tr><th scope="col">Method and path</th><th scope="col">Purpose</th></tr></thead>
<tbody>
<tr><td><code>GET /api/v1/status</code></td><td>Overall status and every component.</td></tr>
<tr><td><code>GET /api/v1/incidents?state=open</code></td><td>List incidents.</td></tr>
<tr><td><code>POST /api/v1/incidents</code></td><td>Open an incident.</td></tr>
<tr><td><code>POST /api/v1/incidents/{{id}}/updates</code></td><td>Add an update; set
<code>state</code> to <code>resolved</code> to close it.</td></tr>
<tr><td><code>PATCH /api/v1/components/{{id}}</code></td><td>Override a component&rsquo;s
status by hand.</td></tr>
</tbody>
</table>
</div>

<h2>Example: open an incident</h2>
{_CURL_OPEN_INCIDENT}
<p>The response contains the new incident:</p>
{_INCIDENT_RESPONSE}

<h2>Errors and limits</h2>
<p>Errors use ordinary HTTP status codes with a body like
<code>{{"error": {{"code": "invalid_component", "message": "..."}}}}</code>. Each token may
make 600 requests per minute; above that you get <code>429</code> with a
<code>Retry-After</code> header.</p>
"""

_FAQ: Final = """
<dl>
<dt>Where should I host my status page?</dt>
<dd>Anywhere that does not share a failure with the things it reports on: a different cloud
provider or region, and ideally a different DNS provider. Our post
<a href="/blog/status-page-failure-domains">on failure domains</a> goes into detail.</dd>

<dt>Can I install it without Docker?</dt>
<dd>Yes. Static binaries for Linux and a Debian package are on the releases page; run
<code>larkspur serve --config /etc/larkspur/larkspur.toml</code> under systemd.</dd>

<dt>How do I back up Larkspur?</dt>
<dd>Run <code>larkspur backup /path/to/file.tar.gz</code>. It writes a consistent snapshot
of the database and uploaded images, even while the server is running. With PostgreSQL you
can also use your usual database backups.</dd>

<dt>How do I upgrade?</dt>
<dd>Pull the new image and restart the container. Database migrations run automatically on
start; downgrades are not supported, so take a backup first.</dd>

<dt>Does the public status page use cookies?</dt>
<dd>No. It sets no cookies and loads no third-party scripts. Only the admin UI uses a session
cookie after you sign in.</dd>

<dt>Can checks run from several locations?</dt>
<dd>Yes. Start extra instances with <code>larkspur probe</code> in other regions; a component
is marked down only when a majority of probes agree.</dd>
</dl>
"""

DOCS: Final[dict[str, Doc]] = {
    "getting-started": Doc(
        "Getting started",
        "Install Larkspur with Docker and publish your first status page.",
        _GETTING_STARTED,
    ),
    "configuration": Doc(
        "Configuration",
        "Keep components, checks and notifications in larkspur.toml.",
        _CONFIGURATION,
    ),
    "api": Doc(
        "REST API",
        "Read status and post incident updates from scripts and CI.",
        _API,
    ),
    "faq": Doc(
        "FAQ",
        "Hosting, backups, upgrades, cookies and multi-region checks.",
        _FAQ,
    ),
}


# ---------------------------------------------------------------------------
# Content: blog
# ---------------------------------------------------------------------------

_POST_INCIDENT_UPDATES: Final = f"""
<p>During an incident your status page is the most-read page you own. Most updates on it
still say &ldquo;We are investigating an issue&rdquo; and nothing else. After reading
several thousand updates posted through Larkspur, here is what separates the ones people
find useful from the ones that generate support tickets.</p>

<h2>Answer four questions, every time</h2>
<ol>
<li><strong>What is affected?</strong> Name the feature, not the server:
&ldquo;file uploads&rdquo;, not &ldquo;storage-3&rdquo;.</li>
<li><strong>What do users see?</strong> Errors, slowness, missing data? Give them a way to
recognise the problem.</li>
<li><strong>What are you doing?</strong> One honest sentence is enough.</li>
<li><strong>When is the next update?</strong> Then keep that promise, even if there is
nothing new.</li>
</ol>

<h2>An example</h2>
<blockquote>
<p><strong>14:05 UTC, Identified.</strong> Uploading files larger than 10&nbsp;MB fails
with &ldquo;Upload interrupted&rdquo;. Smaller files and downloads work normally. A storage
configuration change made at 13:20 caused this; we are rolling it back. Next update by
14:35 UTC.</p>
</blockquote>
<p>It is four sentences long, and a customer can decide from it whether to wait, retry or
tell their own users.</p>

<h2>Templates help under stress</h2>
<p>Nobody writes well at 3&nbsp;a.m. Larkspur 2.2 added incident templates, and you can keep
them in your configuration file:</p>
{_INCIDENT_TEMPLATE}
<p>Finally, close every incident with a short summary of the cause and what you changed.
It is the update people link to afterwards.</p>
"""

_POST_FAILURE_DOMAINS: Final = f"""
<p>A status page has exactly one job that matters: staying up when everything else is down.
That sounds obvious, yet the most common setup we see is a status page running on the same
cluster, behind the same load balancer and the same DNS provider as the product it reports
on.</p>

<h2>What a shared failure looks like</h2>
<p>When the load balancer fails, the product and the status page fail together. Customers
go to the status page, get the same error, and conclude that you do not know yet &mdash;
or worse, that you are hiding it. The status page turns a bad incident into a
communication failure.</p>

<h2>A checklist</h2>
<ul>
<li><strong>Compute:</strong> run Larkspur with a different provider, or at least in a
different region and account.</li>
<li><strong>DNS:</strong> host the status-page zone with a different DNS provider, or use a
separate domain such as <code>examplestatus.com</code>.</li>
<li><strong>Email:</strong> send subscriber notifications through a different mail service
from your product email.</li>
<li><strong>Sign-in:</strong> keep a local admin account, so an outage of your single
sign-on provider does not lock you out of posting updates.</li>
<li><strong>Checks:</strong> run probes from outside your network, so you see what your
customers see.</li>
</ul>

<h2>Probes in two regions</h2>
<p>Larkspur can run lightweight probes elsewhere and combine their results:</p>
{_PROBE_COMMAND}
<p>With two or more probes, a component is marked down only when most of them agree, which
also removes false alarms caused by one probe&rsquo;s network.</p>
<p>None of this is expensive: the smallest VM at almost any provider runs Larkspur
comfortably. It is a small price for a status page that is still there when you need it.</p>
"""

_POST_RELEASE: Final = """
<p>Larkspur 2.3 is out! It has lots of improvements and fixes. Update today and enjoy.</p>
<p>Stay tuned for more exciting news!</p>
"""

POSTS: Final[dict[str, Post]] = {
    "status-page-failure-domains": Post(
        "Why your status page should not live next to your app",
        date(2026, 2, 17),
        "Shared load balancers, DNS and sign-in turn outages into communication failures. "
        "A checklist for hosting your status page somewhere safe.",
        _POST_FAILURE_DOMAINS,
    ),
    "writing-incident-updates": Post(
        "Writing incident updates people actually read",
        date(2026, 1, 20),
        "Four questions every update should answer, an example, and templates for 3 a.m.",
        _POST_INCIDENT_UPDATES,
    ),
    "larkspur-2-3": Post(
        "Larkspur 2.3 is out",
        date(2026, 3, 5),
        "A new release.",
        _POST_RELEASE,
    ),
}


# ---------------------------------------------------------------------------
# Rendering helpers for the docs and blog sections
# ---------------------------------------------------------------------------


def _docs_nav(current_slug: str) -> str:
    links = []
    for slug, doc in DOCS.items():
        current = ' aria-current="page"' if slug == current_slug else ""
        links.append(
            f'<li><a href="/docs/{html.escape(slug)}"{current}>{html.escape(doc.title)}</a></li>'
        )
    return (
        '<nav class="docs-nav" aria-label="Documentation">'
        f"<h2>Documentation</h2><ul>{''.join(links)}</ul></nav>"
    )


def _docs_pager(slug: str) -> str:
    slugs = list(DOCS)
    index = slugs.index(slug)
    parts = []
    if index > 0:
        prev_slug = slugs[index - 1]
        parts.append(
            f'<a href="/docs/{html.escape(prev_slug)}">&larr; '
            f"{html.escape(DOCS[prev_slug].title)}</a>"
        )
    else:
        parts.append('<a href="/docs">&larr; All docs</a>')
    if index + 1 < len(slugs):
        next_slug = slugs[index + 1]
        parts.append(
            f'<a href="/docs/{html.escape(next_slug)}">{html.escape(DOCS[next_slug].title)} '
            "&rarr;</a>"
        )
    return f'<nav class="pager" aria-label="Pagination">{"".join(parts)}</nav>'


def _render_docs_index() -> str:
    items = "".join(
        f'<li class="card"><h2><a href="/docs/{html.escape(slug)}">{html.escape(doc.title)}'
        f'</a></h2><p class="muted">{html.escape(doc.summary)}</p></li>'
        for slug, doc in DOCS.items()
    )
    return (
        '<div class="prose"><h1>Documentation</h1>'
        "<p>Everything you need to install, configure and automate Larkspur. New here? "
        'Start with <a href="/docs/getting-started">Getting started</a>.</p>'
        f'<ul class="entry-list">{items}</ul></div>'
    )


def _render_doc(slug: str, doc: Doc) -> str:
    return (
        f'<div class="docs-layout">{_docs_nav(slug)}'
        f'<article class="prose"><h1>{html.escape(doc.title)}</h1>'
        f'<p class="lead muted">{html.escape(doc.summary)}</p>'
        f"{doc.body}{_docs_pager(slug)}</article></div>"
    )


def _posts_newest_first() -> list[tuple[str, Post]]:
    return sorted(POSTS.items(), key=lambda item: item[1].published, reverse=True)


def _render_blog_index() -> str:
    items = "".join(
        f'<li class="card"><h2><a href="/blog/{html.escape(slug)}">{html.escape(post.title)}'
        f'</a></h2><p class="muted small">{_format_date(post.published)}</p>'
        f"<p>{html.escape(post.summary)}</p></li>"
        for slug, post in _posts_newest_first()
    )
    return (
        '<div class="prose"><h1>Blog</h1>'
        "<p>Notes on running status pages, incident communication and Larkspur releases.</p>"
        f'<ul class="entry-list">{items}</ul></div>'
    )


def _render_post(post: Post) -> str:
    return (
        f'<article class="prose"><h1>{html.escape(post.title)}</h1>'
        f'<p class="muted small">{_format_date(post.published)} &middot; Larkspur team</p>'
        f'{post.body}<nav class="pager" aria-label="Blog">'
        '<a href="/blog">&larr; All posts</a></nav></article>'
    )


def _render_not_found(path: str) -> str:
    return (
        '<div class="not-found prose">'
        '<p class="code" aria-hidden="true">404</p>'
        "<h1>We couldn&rsquo;t find that page</h1>"
        f"<p>There is nothing at <code>{html.escape(path)}</code>. It may have moved, or the "
        "link may be mistyped.</p>"
        '<div class="actions"><a class="button" href="/">Go to the home page</a>'
        '<a class="button secondary" href="/docs">Browse the docs</a></div></div>'
    )


# ---------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(
        page(
            SITE_NAME,
            HOME_BODY,
            active="/",
            description="Larkspur is a self-hosted status page with built-in checks, "
            "incident updates and subscriber notifications.",
        )
    )


async def pricing(request: Request) -> HTMLResponse:
    response = HTMLResponse(
        page(
            "Pricing",
            PRICING_BODY,
            active="/pricing",
            description="Larkspur plans: free Community edition, Team and Enterprise.",
        )
    )
    # Host-application marketing cookies, to demonstrate server-side enforcement.
    response.set_cookie("_ga", "GA1.1.demo", max_age=THIRTY_DAYS)
    response.set_cookie("_fbp", "fb.1.demo", max_age=THIRTY_DAYS)
    return response


# consentlog's banner script fills this with "Was this page useful? Yes / No" for
# visitors who accepted analytics; for everybody else it stays empty.
FEEDBACK = '<div class="feedback" data-consent-feedback></div>'


async def docs_index(request: Request) -> HTMLResponse:
    return HTMLResponse(page("Documentation", _render_docs_index(), active="/docs"))


async def doc_page(request: Request) -> HTMLResponse:
    slug = str(request.path_params["slug"])
    doc = DOCS.get(slug)
    if doc is None:
        raise HTTPException(status_code=404)
    body = _render_doc(slug, doc) + FEEDBACK
    return HTMLResponse(page(doc.title, body, active="/docs", description=doc.summary))


async def blog_index(request: Request) -> HTMLResponse:
    return HTMLResponse(page("Blog", _render_blog_index(), active="/blog"))


async def blog_post(request: Request) -> HTMLResponse:
    slug = str(request.path_params["slug"])
    post = POSTS.get(slug)
    if post is None:
        raise HTTPException(status_code=404)
    body = _render_post(post) + FEEDBACK
    return HTMLResponse(page(post.title, body, active="/blog", description=post.summary))


async def privacy(request: Request) -> HTMLResponse:
    return HTMLResponse(
        page(
            "Privacy policy",
            PRIVACY_BODY,
            description="How Larkspur handles personal data and cookies, and your rights.",
        )
    )


async def about(request: Request) -> HTMLResponse:
    return HTMLResponse(page("About", ABOUT_BODY, active="/about"))


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def stylesheet(request: Request) -> Response:
    return Response(
        SITE_CSS,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def not_found(request: Request, exc: Exception) -> HTMLResponse:
    return HTMLResponse(
        page("Page not found", _render_not_found(request.url.path)), status_code=404
    )


def create_site() -> Starlette:
    """The demo site itself, without consentlog: a small product website."""
    routes = [
        Route("/", home, name="home"),
        Route("/pricing", pricing, name="pricing"),
        Route("/docs", docs_index, name="docs_index"),
        Route("/docs/{slug}", doc_page, name="doc"),
        Route("/blog", blog_index, name="blog_index"),
        Route("/blog/{slug}", blog_post, name="blog_post"),
        Route("/privacy", privacy, name="privacy"),
        Route("/about", about, name="about"),
        Route("/healthz", healthz, name="healthz"),
        Route("/static/site.css", stylesheet, name="stylesheet"),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})
