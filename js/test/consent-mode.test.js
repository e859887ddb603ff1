import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { openPage } from '../test-support/page.js';

openPage(); // src/state.js reads the page when it is first imported
const { sendConsentMode } = await import('../src/consent-mode.js');
const { createState, state } = await import('../src/state.js');

const DENIED = { ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', analytics_storage: 'denied' };

/** @type {unknown[][]} */
let calls;

/** Gives the page a gtag that records its calls. */
const installGtag = () => {
  window.gtag = (...args) => { calls.push(args); };
};

beforeEach(() => {
  openPage();
  Object.assign(state, createState());
  calls = [];
});

test('the default denies every purpose', () => {
  installGtag();
  state.categories_ = { analytics: true, marketing: true };
  sendConsentMode('default');
  assert.deepEqual(calls, [['consent', 'default', DENIED]]);
});

test('an update grants analytics_storage alone when only analytics is accepted', () => {
  installGtag();
  sendConsentMode('default');
  state.categories_ = { necessary: true, analytics: true, marketing: false };
  sendConsentMode('update');
  assert.deepEqual(calls[1], ['consent', 'update', { ...DENIED, analytics_storage: 'granted' }]);
});

test('an update grants the three ad purposes when marketing is accepted', () => {
  installGtag();
  sendConsentMode('default');
  state.categories_ = { analytics: false, marketing: true };
  sendConsentMode('update');
  assert.deepEqual(calls[1], ['consent', 'update', {
    ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted', analytics_storage: 'denied',
  }]);
});

test('each decision is one update, after a single default', () => {
  installGtag();
  sendConsentMode('default');
  state.categories_ = { analytics: true };
  sendConsentMode('update');
  state.categories_ = { analytics: false };
  sendConsentMode('update');
  assert.deepEqual(calls.map((call) => call[1]), ['default', 'update', 'update']);
  assert.equal(calls[2][2].analytics_storage, 'denied');
});

test('without gtag nothing is sent and nothing throws', () => {
  state.categories_ = { analytics: true };
  assert.doesNotThrow(() => {
    sendConsentMode('default');
    sendConsentMode('update');
  });
});

test('a gtag that appears after the default was due gets the default before the first update', () => {
  sendConsentMode('default');
  installGtag();
  state.categories_ = { analytics: true };
  sendConsentMode('update');
  assert.deepEqual(calls, [
    ['consent', 'default', DENIED],
    ['consent', 'update', { ...DENIED, analytics_storage: 'granted' }],
  ]);
});
