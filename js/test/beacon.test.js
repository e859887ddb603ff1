import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage } from '../test-support/page.js';

openPage(); // src/state.js reads the page when it is first imported
const { goal, start, track } = await import('../src/beacon.js');
const { createState, state } = await import('../src/state.js');

const MARK = '<div id="cl-pv" data-pv="view-1"></div>';
const VOTE = 'Hat diese Seite geholfen?\nJa\nNein\nDanke!';

/** @type {{url: string, body: object}[]} */
let beacons;

/**
 * Opens a page whose navigator.sendBeacon records what it is given.
 *
 * @param {string} body
 * @param {Record<string, boolean>} categories the visitor's decision
 */
const pageWith = (body, categories) => {
  const window = openPage(body);
  Object.assign(state, createState(), { categories_: categories });
  // the vote widget's words, as a decided visitor's script tag carries them
  const tag = window.document.createElement('script');
  tag.setAttribute('data-vote', VOTE);
  window.document.head.appendChild(tag);
  beacons = [];
  Object.defineProperty(window.navigator, 'sendBeacon', {
    value: (url, data) => beacons.push({ url, body: url.endsWith('/check') ? data : JSON.parse(data) }) > 0,
    writable: true,
  });
  return window;
};

/** The visitor leaves: pagehide, as on closing the tab or following a link. */
const leave = (window) => window.dispatchEvent(new window.Event('pagehide'));

/** Lets the promise callbacks of a fetch that already resolved run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a page served without consent sends its check token, once, and measures nothing', () => {
  const window = pageWith('<i id="cl-pv" data-check="check-1" hidden></i>', {});
  track();
  leave(window);
  assert.deepEqual(beacons, [{ url: '/_consent/check', body: 'check-1' }]);
});

test('a measured page sends no check', () => {
  const window = pageWith(MARK, { analytics: true });
  track();
  assert.deepEqual(beacons, []);
  leave(window);
  assert.deepEqual(beacons.map((b) => b.url), ['/_consent/beacon']);
});

test('leaving the page sends its page view once', () => {
  const window = pageWith(MARK, { analytics: true });
  track();
  leave(window);
  leave(window);
  assert.deepEqual(beacons, [{
    url: '/_consent/beacon',
    body: { pv: 'view-1', path: '/page', engaged_ms: 0, scroll_pct: 100, useful: null },
  }]);
});

test('engaged time counts only the stretches in which the page is visible and focused', (t) => {
  const window = pageWith(MARK, { analytics: true });
  let now = 1000;
  let focused = true;
  t.mock.method(performance, 'now', () => now);
  window.document.hasFocus = () => focused;
  track();
  now = 4000;
  focused = false;
  window.dispatchEvent(new window.Event('blur'));
  now = 9000;
  focused = true;
  window.dispatchEvent(new window.Event('focus'));
  now = 10000;
  leave(window);
  assert.equal(beacons[0].body.engaged_ms, 4000);
});

test('nothing is sent without analytics consent', () => {
  const window = pageWith(MARK, { analytics: false });
  track();
  leave(window);
  assert.deepEqual(beacons, []);
});

test('a page without a page-view token is not tracked', () => {
  const window = pageWith('', { analytics: true });
  track();
  leave(window);
  assert.deepEqual(beacons, []);
});

test('the answer of the vote widget travels with the beacon', () => {
  const window = pageWith(`${MARK}<p data-consent-feedback="Did this help?"></p>`, { analytics: true });
  track();
  const widget = window.document.querySelector('[data-consent-feedback]');
  assert.equal(widget.getAttribute('role'), 'group');
  assert.equal(widget.getAttribute('aria-label'), 'Did this help?');
  widget.querySelector('button[value="1"]').click();
  assert.equal(widget.textContent, 'Danke!');
  leave(window);
  assert.equal(beacons[0].body.useful, true);
});

test('the vote widget speaks the server\'s words, and without them stays empty', () => {
  let window = pageWith(`${MARK}<p data-consent-feedback></p>`, { analytics: true });
  track();
  const widget = window.document.querySelector('[data-consent-feedback]');
  assert.equal(widget.getAttribute('aria-label'), 'Hat diese Seite geholfen?');
  assert.deepEqual(Array.from(widget.childNodes, (node) => node.textContent), ['Hat diese Seite geholfen?', ' ', 'Ja', ' ', 'Nein']);
  assert.deepEqual(Array.from(widget.querySelectorAll('button'), (b) => [b.type, b.value]), [['button', '1'], ['button', '']]);
  window = pageWith(`${MARK}<p data-consent-feedback></p>`, { analytics: true });
  window.document.head.textContent = '';
  track();
  assert.equal(window.document.querySelector('[data-consent-feedback]').childNodes.length, 0);
});

test('a beacon that sendBeacon refuses goes by fetch with keepalive', (t) => {
  const window = pageWith(MARK, { analytics: true });
  window.navigator.sendBeacon = () => false;
  const fetch = t.mock.method(globalThis, 'fetch', () => Promise.resolve());
  track();
  leave(window);
  const [url, init] = fetch.mock.calls[0].arguments;
  assert.equal(url, '/_consent/beacon');
  assert.deepEqual({ ...init, body: JSON.parse(init.body) }, {
    method: 'POST',
    keepalive: true,
    credentials: 'same-origin',
    body: { pv: 'view-1', path: '/page', engaged_ms: 0, scroll_pct: 100, useful: null },
  });
});

test('a single-page navigation closes the page view and measures the next one', async (t) => {
  const window = pageWith(MARK, { analytics: true });
  const fetch = t.mock.method(globalThis, 'fetch', () => Promise.resolve({ ok: true, json: async () => ({ pv: 'view-2' }) }));
  track();
  window.history.pushState(null, '', '/next');
  assert.deepEqual(beacons.map((beacon) => beacon.body.pv), ['view-1']);
  const [url, init] = fetch.mock.calls[0].arguments;
  assert.equal(url, '/_consent/beacon');
  assert.deepEqual(JSON.parse(init.body), { pv: 'view-1', path: '/page', nav: '/next' });
  await settle();
  leave(window);
  assert.deepEqual(beacons[1].body, { pv: 'view-2', path: '/next', engaged_ms: 0, scroll_pct: 100, useful: null });
});

test('a page without a token is measured from the moment it gets one (the visitor accepts)', (t) => {
  const window = pageWith('<div data-consent-feedback></div>', { analytics: true });
  let now = 1000;
  t.mock.method(performance, 'now', () => now);
  window.document.hasFocus = () => true;
  track(); // no #cl-pv: nothing measured, no widget
  assert.equal(window.document.querySelector('[data-consent-feedback]').children.length, 0);
  now = 5000; // reading before deciding does not count
  start('view-2');
  assert.equal(window.document.querySelectorAll('[data-consent-feedback] button').length, 2);
  now = 65000;
  leave(window);
  assert.deepEqual(beacons.map((b) => b.body), [
    { pv: 'view-2', path: '/page', engaged_ms: 60000, scroll_pct: 100, useful: null },
  ]);
});

test('a data-consent-goal link, button or form sends its goal once, with the page view', () => {
  const window = pageWith(`${MARK}<a href="#x" data-consent-goal="download"><span>PDF</span></a>
<form data-consent-goal="signup"><button type="submit">Sign up</button></form>
<button type="button" data-consent-goal="chat">Chat</button><a href="#y">plain</a>`, { analytics: true });
  track();
  const document = window.document;
  document.querySelector('span').click(); // inside the link
  document.querySelector('a[href="#y"]').click();
  document.querySelector('button[type="button"]').click();
  const form = document.querySelector('form');
  form.addEventListener('submit', (event) => event.preventDefault());
  form.requestSubmit(); // the click on its button is no goal, the submission is
  assert.deepEqual(beacons.map((b) => b.body), [
    { pv: 'view-1', path: '/page', goal: 'download' },
    { pv: 'view-1', path: '/page', goal: 'chat' },
    { pv: 'view-1', path: '/page', goal: 'signup' },
  ]);
});

test('consentlog.track sends a custom event with its properties, only with consent', () => {
  pageWith(MARK, { analytics: true });
  track();
  goal('checkout', { plan: 'pro' });
  goal(42); // not a name: nothing
  assert.deepEqual(beacons.map((b) => b.body), [
    { pv: 'view-1', path: '/page', goal: 'checkout', props: { plan: 'pro' } },
  ]);
  const refused = pageWith(MARK, { analytics: false });
  track();
  goal('checkout');
  refused.document.querySelector('#cl-pv').click();
  assert.deepEqual(beacons, []);
});
