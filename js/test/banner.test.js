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
  initBanner();
  assert.deepEqual(state.categories_, { necessary: true, analytics: true, marketing: false });
  assert.equal(window.document.querySelector('input[value="analytics"]').checked, true);
  assert.equal(cookieReads, 0);
});
