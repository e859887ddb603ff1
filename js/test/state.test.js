import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage } from '../test-support/page.js';

openPage(); // src/state.js reads the page when it is first imported
const { createState, isAccepted, state } = await import('../src/state.js');

test('a fresh state has no decision, no banner and the default prefix', () => {
  openPage();
  const fresh = createState();
  assert.deepEqual(fresh.categories_, {});
  assert.equal(fresh.banner_, null);
  assert.equal(fresh.prefix_, '/_consent');
  assert.equal(fresh.path_, '/page');
});

test('the prefix is the directory banner.js was loaded from', () => {
  const window = openPage();
  const script = window.document.createElement('script');
  script.src = '/shop/_consent/banner.js?v=1a2b';
  // Only set by the browser while a script is first evaluated.
  Object.defineProperty(window.document, 'currentScript', { value: script });
  const fresh = createState();
  assert.equal(fresh.scriptPrefix_, 'http://site.test/shop/_consent');
  assert.equal(fresh.prefix_, 'http://site.test/shop/_consent');
});

test('a category is accepted only when the decision says true', () => {
  state.categories_ = { necessary: true, analytics: false };
  assert.equal(isAccepted('necessary'), true);
  assert.equal(isAccepted('analytics'), false);
  assert.equal(isAccepted('marketing'), false);
});
