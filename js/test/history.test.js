import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage } from '../test-support/page.js';
import { onNavigate } from '../src/history.js';

test('pushState and replaceState call the listener once the URL has changed', () => {
  const window = openPage();
  const seen = [];
  onNavigate(() => seen.push(window.location.pathname));
  window.history.pushState({ n: 1 }, '', '/second');
  window.history.replaceState({ n: 2 }, '', '/third');
  assert.deepEqual(seen, ['/second', '/third']);
  assert.deepEqual(window.history.state, { n: 2 });
});

test('going back calls the listener', async () => {
  const window = openPage();
  window.history.pushState(null, '', '/second');
  const seen = [];
  onNavigate(() => seen.push(window.location.pathname));
  const popped = new Promise((resolve) => window.addEventListener('popstate', resolve));
  window.history.back();
  await popped;
  assert.deepEqual(seen, ['/page']);
});
