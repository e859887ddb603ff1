import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage } from '../test-support/page.js';

openPage(); // src/state.js reads the page when it is first imported
const { activateScripts } = await import('../src/scripts.js');
const { createState, state } = await import('../src/state.js');

const COUNTER = 'window.ran = (window.ran || 0) + 1;';

/**
 * @param {string} body
 * @param {Record<string, boolean>} categories the visitor's decision
 */
const pageWith = (body, categories) => {
  const window = openPage(body);
  Object.assign(state, createState(), { categories_: categories });
  return window;
};

test('a script waiting for analytics stays inert while analytics is not accepted', () => {
  const window = pageWith(`<script type="text/plain" data-consent="analytics">${COUNTER}</script>`, { analytics: false });
  activateScripts();
  assert.equal(window.ran, undefined);
  assert.equal(window.document.querySelector('script').getAttribute('type'), 'text/plain');
});

test('a script waiting for analytics runs once analytics is accepted', () => {
  const window = pageWith(`<script type="text/plain" data-consent="analytics">${COUNTER}</script>`, {});
  activateScripts();
  state.categories_ = { analytics: true };
  activateScripts();
  assert.equal(window.ran, 1);
  assert.equal(window.document.querySelector('script').hasAttribute('type'), false);
});

test('an activated script keeps its attributes and code, without type and data-consent', () => {
  const window = pageWith(
    '<script type="text/plain" data-consent="analytics" id="tag" data-site="42" nonce="n0nce">'
      + `${COUNTER}</script>`
      + '<script type="text/plain" data-consent="analytics" id="remote" src="/tracker.js"></script>',
    { analytics: true },
  );
  activateScripts();
  const inline = window.document.getElementById('tag');
  assert.deepEqual(
    Array.from(inline.attributes, (attr) => [attr.name, attr.value]),
    [['id', 'tag'], ['data-site', '42'], ['nonce', 'n0nce']],
  );
  assert.equal(inline.text, COUNTER);
  const remote = window.document.getElementById('remote');
  assert.equal(remote.getAttribute('src'), '/tracker.js');
  assert.equal(remote.hasAttribute('data-consent'), false);
  assert.equal(window.document.querySelectorAll('script[type="text/plain"]').length, 0);
});

test('an activated script is async only where the original was', () => {
  const window = pageWith(
    '<script type="text/plain" data-consent="analytics" id="ordered" src="/a.js"></script>'
      + '<script type="text/plain" data-consent="analytics" id="async" src="/b.js" async></script>',
    { analytics: true },
  );
  activateScripts();
  assert.equal(window.document.getElementById('ordered').async, false);
  assert.equal(window.document.getElementById('async').async, true);
});

test('activating again runs no script a second time', () => {
  const window = pageWith(`<script type="text/plain" data-consent="analytics">${COUNTER}</script>`, { analytics: true });
  activateScripts();
  const activated = window.document.querySelector('script');
  activateScripts();
  assert.equal(window.ran, 1);
  assert.equal(window.document.querySelector('script'), activated);
});

test('a script of another category stays inert when analytics is accepted', () => {
  const window = pageWith(
    `<script type="text/plain" data-consent="marketing">${COUNTER}</script>`,
    { analytics: true, marketing: false },
  );
  activateScripts();
  assert.equal(window.ran, undefined);
});

test('a script of several categories waits for all of them', () => {
  const window = pageWith(
    `<script type="text/plain" data-consent="analytics  marketing">${COUNTER}</script>`,
    { analytics: true },
  );
  activateScripts();
  assert.equal(window.ran, undefined);
  state.categories_ = { analytics: true, marketing: true };
  activateScripts();
  assert.equal(window.ran, 1);
});

test('a script with a runnable type is left alone', () => {
  const window = pageWith(`<script type="module" data-consent="analytics">${COUNTER}</script>`, {});
  state.categories_ = { analytics: true };
  activateScripts();
  assert.equal(window.document.querySelector('script').getAttribute('type'), 'module');
});
