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
 * Puts the embed in place of its placeholder: the <template>'s iframe, or, for the
 * notice opening a <div data-consent-embed>, the div's held-back scripts run.
 *
 * @param {Element} holder a .cl-embed placeholder
 * @returns {void}
 */
const load = (holder) => {
  const template = /** @type {HTMLTemplateElement | null} */ (holder.querySelector('template'));
  const box = /** @type {Element} */ (holder.parentNode);
  if (template) {
    const frame = template.content.firstElementChild;
    box.replaceChild(template.content, holder);
    if (frame) /** @type {HTMLElement} */ (frame).focus();
    return;
  }
  box.removeChild(holder);
  /** @type {NodeListOf<HTMLScriptElement>} */ (box.querySelectorAll('script[type="text/plain"]')).forEach(activate);
};

const init = guard(() => {
  document.querySelectorAll('.cl-embed').forEach((holder) => {
    const button = /** @type {HTMLButtonElement | null} */ (holder.querySelector('[data-consent-load]'));
    if (!button) return;
    button.hidden = false;
    button.addEventListener('click', guard(() => load(holder)));
  });
  document.addEventListener('consentlog:change', guard((event) => {
    const accepted = /** @type {CustomEvent<Record<string, boolean>>} */ (event).detail || {};
    document.querySelectorAll('.cl-embed').forEach((holder) => {
      if (accepted[holder.getAttribute('data-consent-for') || ''] === true) load(holder);
    });
  }));
});

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
