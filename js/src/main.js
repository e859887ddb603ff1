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
import { state } from './state.js';

// A page may include the script twice (injected and by hand): one instance is enough.
if (!window.consentlog) {
  listenForOpeners();

  window.consentlog = {
    open: guard(() => { openOrLoad(null); }),
    categories: () => Object.assign({}, state.categories_),
    track: guard(goal),
  };

  const init = guard(() => {
    initBanner();
    track();
  });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}
