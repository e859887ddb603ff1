import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage } from '../test-support/page.js';

// A page with an undecided visitor's banner, loaded before the script (as it runs).
const window = openPage(`<div id="cl-banner" data-prefix="/_consent" data-decided="0" data-accepted="">
  <form class="cl-form" method="post" action="/_consent">
    <input type="checkbox" name="category" value="necessary" checked disabled>
    <input type="checkbox" name="category" value="analytics">
    <button type="submit" name="action" value="accept_all">Accept</button>
  </form>
</div>`);
globalThis.window = window;
let ready = null;
window.document.addEventListener('consentlog:ready', (event) => { ready = event.detail; });
await import('../src/main.js');
const { consentlog } = window;

test('the script says when the decision is known, with the categories', () => {
  assert.deepEqual(ready, { necessary: true, analytics: false });
});

test('accepted answers for any name, true only for an accepted category', () => {
  assert.equal(consentlog.accepted('necessary'), true);
  assert.equal(consentlog.accepted('analytics'), false);
  assert.equal(consentlog.accepted('__proto__'), false);
  assert.equal(consentlog.accepted({ toString: () => 'necessary' }), true);
});

test('onChange calls back on every decision until it is undone', async () => {
  const seen = [];
  const stop = consentlog.onChange((categories) => seen.push(categories));
  window.fetch = globalThis.fetch = async () => ({
    ok: true, json: async () => ({ categories: { necessary: true, analytics: true } }),
  });
  const form = window.document.querySelector('form');
  form.requestSubmit(window.document.querySelector('button[value="accept_all"]'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(seen, [{ necessary: true, analytics: true }]);
  assert.equal(consentlog.accepted('analytics'), true);
  stop();
  window.document.dispatchEvent(new window.CustomEvent('consentlog:change', { detail: {} }));
  assert.equal(seen.length, 1);
});
