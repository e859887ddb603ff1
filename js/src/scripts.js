// @ts-check
import { isAccepted } from './state.js';

/**
 * Runs each <script type="text/plain" data-consent="analytics"> whose categories
 * (space-separated: all must be accepted) now are: a copy with a runnable type replaces
 * it, so a second call finds nothing left to run.
 *
 * @returns {void}
 */
export const activateScripts = () => {
  const waiting = /** @type {NodeListOf<HTMLScriptElement>} */ (
    document.querySelectorAll('script[type="text/plain"][data-consent]'));
  waiting.forEach((old) => {
    const needed = /** @type {string} */ (old.getAttribute('data-consent')).split(/\s+/).filter(Boolean);
    if (!needed.every(isAccepted)) return;
    const script = document.createElement('script');
    Array.from(old.attributes).forEach((attr) => {
      if (attr.name !== 'type' && attr.name !== 'data-consent') {
        script.setAttribute(attr.name, attr.value);
      }
    });
    script.nonce = old.nonce; // the nonce attribute reads "" once CSP hides it
    script.async = old.hasAttribute('async'); // otherwise keep document order
    script.text = old.text;
    /** @type {Node} */ (old.parentNode).replaceChild(script, old);
  });
};
