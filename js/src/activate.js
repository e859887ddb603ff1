// @ts-check

/**
 * Runs a held-back <script type="text/plain">: a copy with a runnable type replaces it
 * (attributes but type and data-consent kept, the nonce carried over, document order
 * kept unless it was async).
 *
 * @param {HTMLScriptElement} old
 * @returns {void}
 */
export const activate = (old) => {
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
};
