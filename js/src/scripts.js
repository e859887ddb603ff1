// @ts-check
import { activate } from './activate.js';
import { isAccepted } from './state.js';

/**
 * Runs each <script type="text/plain" data-consent="analytics"> whose categories
 * (space-separated: all must be accepted) now are; a second call finds nothing left.
 *
 * @returns {void}
 */
export const activateScripts = () => {
  const waiting = /** @type {NodeListOf<HTMLScriptElement>} */ (
    document.querySelectorAll('script[type="text/plain"][data-consent]'));
  waiting.forEach((old) => {
    const needed = /** @type {string} */ (old.getAttribute('data-consent')).split(/\s+/).filter(Boolean);
    if (needed.every(isAccepted)) activate(old);
  });
};
