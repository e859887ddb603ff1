// @ts-check
/*
 * consentlog banner: progressive enhancement of the server-rendered consent form,
 * consent-gated scripts and the engagement beacon (Google Consent Mode is the server's:
 * an inline script in <head>, asgi/consentmode.py). ES2017, no dependencies,
 * never throws into the host page. build.mjs bundles this entry into one banner.js.
 */
import { initBanner, listenForOpeners, openOrLoad } from './banner.js';
import { goal, track } from './beacon.js';
import { guard } from './guard.js';
import { isAccepted, state } from './state.js';

const CHANGE = 'consentlog:change';

// A page may include the script twice (injected and by hand): one instance is enough.
if (!window.consentlog) {
  listenForOpeners();

  // the page's API (docs/banner.md "For single-page apps")
  window.consentlog = {
    open: guard(() => { openOrLoad(null); }),
    categories: () => Object.assign({}, state.categories_),
    accepted: (name) => isAccepted(String(name)),
    onChange: (callback) => {
      /** @param {Event} event */
      const listener = (event) => callback(/** @type {CustomEvent} */ (event).detail);
      document.addEventListener(CHANGE, listener);
      return () => document.removeEventListener(CHANGE, listener);
    },
    track: guard(goal),
  };

  const init = guard(() => {
    // once the decision is known (a fetched banner brings it): an app that started
    // first can read it
    initBanner(guard(() => {
      document.dispatchEvent(new CustomEvent('consentlog:ready', { detail: Object.assign({}, state.categories_) }));
    }));
    track();
  });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}
