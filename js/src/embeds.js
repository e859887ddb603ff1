// @ts-check
/*
 * consentlog embeds, loaded only on pages where the server held an embed back
 * (asgi/embeds.py): shows each placeholder's "Load once" and loads it on a click, and
 * loads every placeholder of a category the visitor accepts on the page (banner.js's
 * consentlog:change event). "Always allow" is the placeholder's own form: it posts the
 * decision, and the page comes back with the embed loaded by the server.
 */
import { activate } from './activate.js';
import { guard } from './guard.js';

/**
 * Puts the embed in place of its placeholder: the <template>'s iframe (its URL moved
 * from data-consent-src to src, so that a browser without <template> never loaded it),
 * or, for the notice opening a <div data-consent-embed>, the div's held-back scripts of
 * this category run.
 *
 * @param {Element} holder a .cl-embed placeholder
 * @param {boolean} focus whether the visitor asked for this embed (a click): it then
 *   takes the focus the button had
 * @returns {void}
 */
const load = (holder, focus) => {
  const template = /** @type {HTMLTemplateElement | null} */ (holder.querySelector('template'));
  const box = /** @type {Element} */ (holder.parentNode);
  const category = holder.getAttribute('data-consent-for') || '';
  if (template) {
    const frame = /** @type {HTMLIFrameElement | null} */ (template.content.firstElementChild);
    if (frame) {
      frame.src = frame.getAttribute('data-consent-src') || '';
      frame.removeAttribute('data-consent-src');
    }
    box.replaceChild(template.content, holder);
    if (frame && focus) frame.focus();
    return;
  }
  // only the widget's own div: never a parent (a page cut short may leave none)
  if (!box.hasAttribute('data-consent-embed')) return;
  box.removeChild(holder);
  /** @type {NodeListOf<HTMLScriptElement>} */ (box.querySelectorAll('script[type="text/plain"]')).forEach((script) => {
    if (script.getAttribute('data-consent') === category) activate(script);
  });
};

const init = guard(() => {
  document.querySelectorAll('.cl-embed').forEach((holder) => {
    const button = /** @type {HTMLButtonElement | null} */ (holder.querySelector('[data-consent-load]'));
    if (!button) return;
    button.hidden = false;
    button.addEventListener('click', guard(() => load(holder, true)));
  });
  document.addEventListener('consentlog:change', guard((event) => {
    const accepted = /** @type {CustomEvent<Record<string, boolean>>} */ (event).detail || {};
    document.querySelectorAll('.cl-embed').forEach((holder) => {
      if (accepted[holder.getAttribute('data-consent-for') || ''] === true) load(holder, false);
    });
  }));
});

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
