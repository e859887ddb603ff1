import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage } from '../test-support/page.js';

openPage(); // src/state.js reads the page when it is first imported
const { initBanner } = await import('../src/banner.js');
const { createState, state } = await import('../src/state.js');

const BANNER = `<div id="cl-banner" data-prefix="/_consent" data-decided="1" data-accepted="analytics" hidden>
  <form class="cl-form" method="post" action="/_consent">
    <input type="checkbox" name="category" value="necessary" checked disabled>
    <input type="checkbox" name="category" value="analytics">
    <input type="checkbox" name="category" value="marketing">
  </form>
</div>`;

test('the decision comes from the banner markup, never from document.cookie', () => {
  const window = openPage(BANNER);
  Object.assign(state, createState());
  let cookieReads = 0;
  // The consent cookie is HttpOnly: a script that read cookies would see no decision.
  Object.defineProperty(window.document, 'cookie', {
    get: () => { cookieReads += 1; return ''; },
    configurable: true,
  });
  initBanner(() => {});
  assert.deepEqual(state.categories_, { necessary: true, analytics: true, marketing: false });
  assert.equal(window.document.querySelector('input[value="analytics"]').checked, true);
  assert.equal(cookieReads, 0);
});

test("a decided visitor's page: the decision from the script tag, the banner fetched only when opened", async () => {
  const window = openPage('<a href="/_consent/settings" data-consent-open>Cookie settings</a>');
  Object.assign(state, createState());
  state.tagAccepted_ = ['analytics']; // what <script data-decided="1" data-accepted="analytics"> says
  const fetched = [];
  window.fetch = globalThis.fetch = async (url) => {
    fetched.push(String(url));
    return { ok: true, text: async () => BANNER };
  };
  const { listenForOpeners, openOrLoad } = await import('../src/banner.js');
  initBanner(() => {});
  assert.deepEqual(state.categories_, { analytics: true });
  assert.deepEqual(fetched, []); // nothing fetched for a page view
  assert.equal(openOrLoad(window.document.querySelector('a')), true);
  assert.equal(openOrLoad(window.document.querySelector('a')), true); // a second click waits
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(fetched, ['/_consent/banner.html?next=%2Fpage']);
  const banner = window.document.getElementById('cl-banner');
  assert.equal(banner.hidden, false); // opened
  assert.equal(window.document.querySelectorAll('#cl-banner').length, 1);
  assert.equal(typeof listenForOpeners, 'function');
});

test('ready waits for a fetched banner, which carries the decision', async () => {
  const window = openPage('<p>A page whose response could not be rewritten</p>');
  Object.assign(state, createState());
  window.fetch = globalThis.fetch = async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { ok: true, text: async () => BANNER };
  };
  const seen = [];
  initBanner(() => seen.push(Object.assign({}, state.categories_)));
  assert.deepEqual(seen, []); // not before the banner is in
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(seen, [{ necessary: true, analytics: true, marketing: false }]);
});

test('ready comes once even when the banner cannot be fetched', async () => {
  const window = openPage('<p>A page</p>');
  Object.assign(state, createState());
  window.fetch = globalThis.fetch = async () => ({ ok: false, status: 503 });
  let calls = 0;
  initBanner(() => { calls += 1; });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(calls, 1);
});

test('without a decision on the tag and no banner, opening leaves the link to its href', async () => {
  openPage('<a href="/_consent/settings" data-consent-open>Cookie settings</a>');
  Object.assign(state, createState());
  const { openOrLoad } = await import('../src/banner.js');
  assert.equal(openOrLoad(null), false);
});

test('accepting posts the page path and arrival, and a page-view token in the answer measures this page', async () => {
  const window = openPage(`<div id="cl-banner" data-prefix="/_consent" data-decided="0" data-accepted=""
   data-vote="Useful?&#10;Yes&#10;No&#10;Thanks">
  <form class="cl-form" method="post" action="/_consent">
    <input type="checkbox" name="category" value="necessary" checked disabled>
    <input type="checkbox" name="category" value="analytics">
    <button type="submit" name="action" value="accept_all">Accept</button>
  </form>
</div><div data-consent-feedback></div>`);
  Object.assign(state, createState());
  state.pv_ = 'view-old'; // a token of the session a refusal just ended
  const posted = [];
  window.fetch = globalThis.fetch = async (url, init) => {
    posted.push(JSON.parse(init.body));
    return { ok: true, json: async () => ({ categories: { analytics: true }, pv: 'view-new' }) };
  };
  initBanner(() => {});
  const button = window.document.querySelector('button[value="accept_all"]');
  window.document.querySelector('form').requestSubmit(button);
  await new Promise((resolve) => setTimeout(resolve, 20));
  // and how the page was reached, so that its consented copy is the arrival it was
  assert.deepEqual(posted, [{ action: 'accept_all', path: '/page', referrer: '', query: '' }]);
  assert.equal(state.pv_, 'view-new');
  assert.equal(window.document.querySelectorAll('[data-consent-feedback] button').length, 2);
});
