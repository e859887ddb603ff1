// @ts-check
/*
 * The banner UI: posts the server-rendered form as JSON, hides the banner without a
 * reload, restores focus, reopens it from data-consent-open. Without this script the
 * form posts natively and the server answers 303, so every failure path here falls back
 * to that instead of losing the visitor's decision.
 */
import { start } from './beacon.js';
import { guard } from './guard.js';
import { activateScripts } from './scripts.js';
import { isAccepted, state } from './state.js';

// The casts of state.banner_ and state.form_ below sit in code that runs only after
// setup() found them.

/** @returns {void} */
const syncCheckboxes = () => {
  state.boxes_.forEach((box) => {
    if (!box.disabled) box.checked = isAccepted(box.value);
  });
};

/** @returns {void} */
const restoreFocus = () => {
  const banner = /** @type {HTMLElement} */ (state.banner_);
  const target = state.returnFocus_;
  state.returnFocus_ = null;
  if (target && target !== document.body && document.contains(target)) {
    target.focus();
  } else if (banner.contains(document.activeElement)) {
    /** @type {HTMLElement} */ (document.activeElement).blur(); // focus falls back to document.body
  }
};

/** @returns {void} */
const hide = () => {
  /** @type {HTMLElement} */ (state.banner_).hidden = true;
  state.dismissible_ = false;
  restoreFocus();
};

/**
 * Shows the banner with its Settings layer open.
 *
 * @param {Element | null} trigger the data-consent-open element clicked, if any
 * @returns {void}
 */
export const open = (trigger) => {
  const banner = state.banner_;
  if (!banner) return;
  if (banner.hidden) {
    // Reopened to change a decision: Escape may close it again without one.
    state.dismissible_ = true;
    banner.hidden = false;
  }
  if (!state.returnFocus_) {
    const active = document.activeElement;
    state.returnFocus_ = /** @type {HTMLElement | null} */ (active && active !== document.body ? active : trigger);
  }
  syncCheckboxes(); // show the stored choice, not edits abandoned earlier
  if (state.settings_) state.settings_.open = true;
  const first = state.boxes_.find((box) => !box.disabled) || banner.querySelector('button');
  if (first) first.focus();
};

/**
 * @param {Record<string, boolean>} answer the categories the server recorded
 * @returns {void}
 */
const applyDecision = (answer) => {
  const banner = /** @type {HTMLElement} */ (state.banner_);
  state.categories_ = Object.assign({}, answer);
  banner.dataset.decided = '1';
  banner.dataset.accepted = state.boxes_
    .filter((box) => !box.disabled && isAccepted(box.value))
    .map((box) => box.value)
    .join(' ');
  // "Our policy has changed" is answered now; it must not reappear on reopen.
  const notice = banner.querySelector('.cl-notice');
  if (notice) /** @type {Node} */ (notice.parentNode).removeChild(notice);
  syncCheckboxes();
  hide();
  activateScripts();
  document.dispatchEvent(new CustomEvent('consentlog:change', { detail: Object.assign({}, state.categories_) }));
};

/**
 * Posts the form the way it works without JavaScript. form.submit() does not carry
 * the clicked button, so its name/value travels in a hidden input instead.
 *
 * @param {string} action
 * @returns {void}
 */
const submitNatively = (action) => {
  const form = /** @type {HTMLFormElement} */ (state.form_);
  let input = /** @type {HTMLInputElement | null} */ (form.querySelector('input[type="hidden"][name="action"]'));
  if (!input) {
    input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'action';
    form.appendChild(input);
  }
  input.value = action;
  form.submit();
};

/**
 * @param {SubmitEvent} event
 * @returns {void}
 */
const onSubmit = (event) => {
  const submitter = /** @type {HTMLButtonElement | null} */ (event.submitter) || state.lastClicked_;
  // "Delete my data" posts to its own formaction: the browser does that best
  if (submitter && submitter.hasAttribute('formaction')) return;
  const action = submitter && submitter.name === 'action' ? submitter.value : '';
  if (!action || typeof window.fetch !== 'function') return; // let the browser post it
  event.preventDefault();
  if (state.busy_) return;
  state.busy_ = true;

  // the page's path and how it was reached: accepting analytics here measures this page
  // view too, as the arrival it was
  /** @type {{action?: string, categories?: Record<string, boolean>, path: string, referrer: string, query: string}} */
  const payload = {
    action, path: location.pathname, referrer: document.referrer, query: location.search.slice(1),
  };
  if (action === 'custom') {
    /** @type {Record<string, boolean>} */
    const chosen = {};
    state.boxes_.forEach((box) => {
      if (!box.disabled) chosen[box.value] = box.checked;
    });
    delete payload.action;
    payload.categories = chosen;
  }
  Promise.resolve()
    .then(() => fetch(state.prefix_, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(payload),
    }))
    .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
    .then((answer) => (answer && typeof answer.categories === 'object' && answer.categories
      ? answer
      : Promise.reject(answer)))
    .then(guard((/** @type {{categories: Record<string, boolean>, pv?: string}} */ answer) => {
      state.busy_ = false;
      applyDecision(answer.categories);
      if (answer.pv) start(answer.pv); // this page's view, under the new session
    }), () => submitNatively(action));
};

/**
 * Reads the decision from state.banner_'s markup and wires its form.
 *
 * @returns {void}
 */
const setup = () => {
  const banner = /** @type {HTMLElement} */ (state.banner_);
  const form = state.form_ = banner.querySelector('form');
  state.settings_ = banner.querySelector('details');
  const boxes = state.boxes_ = Array.from(banner.querySelectorAll('input[type="checkbox"][name="category"]'));
  state.prefix_ = banner.getAttribute('data-prefix') || state.scriptPrefix_;

  // data-accepted is authoritative: restored form state (back button) may differ.
  const accepted = (banner.getAttribute('data-accepted') || '').split(/\s+/).filter(Boolean);
  boxes.forEach((box) => {
    state.categories_[box.value] = box.disabled ? box.checked : accepted.indexOf(box.value) >= 0;
  });
  accepted.forEach((name) => { state.categories_[name] = true; });
  syncCheckboxes();

  if (form) {
    form.addEventListener('submit', guard(onSubmit));
    form.addEventListener('click', (event) => {
      const target = /** @type {Element} */ (event.target);
      const button = target.closest && target.closest('button');
      if (button) state.lastClicked_ = button;
    });
  }
  banner.addEventListener('keydown', guard((event) => {
    if (event.key === 'Escape' && state.dismissible_ && !banner.hidden) hide();
  }));

  activateScripts();
};

/**
 * Fetches the banner markup from the server and wires it: for pages that only include
 * the script (streamed or compressed responses the middleware cannot rewrite), and for a
 * decided visitor's page, which carries no banner until a data-consent-open element asks.
 *
 * @param {(() => void) | null} then what to do once the banner is in the page
 * @param {(() => void) | null} failed what to do if it cannot be fetched
 * @returns {void}
 */
const loadBanner = (then, failed) => {
  const next = encodeURIComponent(location.pathname + location.search);
  fetch(state.scriptPrefix_ + '/banner.html?next=' + next, { credentials: 'same-origin' })
    .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
    .then(guard((html) => {
      document.body.insertAdjacentHTML('beforeend', html);
      const banner = state.banner_ = document.getElementById('cl-banner');
      if (!banner) {
        if (failed) failed();
        return;
      }
      // The fragment should bring its stylesheet; add one if it did not.
      if (!document.querySelector('link[href*="/banner.css"]')) {
        const link = document.createElement('link');
        link.rel = 'stylesheet';
        link.href = (banner.getAttribute('data-prefix') || state.scriptPrefix_) + '/banner.css';
        document.head.appendChild(link);
      }
      setup();
      if (then) then();
    }))
    .catch(() => { if (failed) failed(); /* else: no banner this time; the next page load tries again */ });
};

/**
 * Enhances the server-rendered banner; on a decided visitor's page (the decision on the
 * script tag, no banner) applies the decision without fetching anything; elsewhere
 * fetches the banner.
 *
 * @param {() => void} ready called once the page knows the decision: at once, or when
 *   the fetched banner (which carries it) is in, or could not be fetched
 * @returns {void}
 */
export const initBanner = (ready) => {
  state.banner_ = document.getElementById('cl-banner');
  const accepted = state.tagAccepted_;
  if (state.banner_) setup();
  else if (accepted) {
    accepted.forEach((name) => { state.categories_[name] = true; });
    activateScripts();
  } else if (typeof window.fetch === 'function') return loadBanner(ready, ready);
  ready();
};

/**
 * Opens the banner's Settings layer, fetching the banner first where the page has none
 * (a decided visitor's page). If it cannot be fetched, the browser goes where the link
 * points, or to the server-rendered settings page.
 *
 * @param {Element | null} trigger the data-consent-open element clicked, if any
 * @returns {boolean} whether the banner is being opened here
 */
export const openOrLoad = (trigger) => {
  if (state.banner_) {
    open(trigger);
    return true;
  }
  if (!state.tagAccepted_ || typeof window.fetch !== 'function') return false;
  if (!state.loading_) {
    state.loading_ = true; // a second click while the banner is on its way waits for it
    // if the banner cannot be fetched: where the link points, else the settings page
    const href = (trigger && trigger.getAttribute('href'))
      || state.scriptPrefix_ + '/settings?next=' + encodeURIComponent(location.pathname + location.search);
    const done = () => { state.loading_ = false; };
    loadBanner(() => { done(); open(trigger); }, () => { done(); location.href = href; });
  }
  return true;
};

/**
 * Lets any element with a data-consent-open attribute reopen the banner.
 *
 * @returns {void}
 */
export const listenForOpeners = () => {
  document.addEventListener('click', guard((event) => {
    const target = /** @type {Element} */ (event.target);
    const trigger = target.closest && target.closest('[data-consent-open]');
    // without a banner (or the means to fetch one) the link keeps its own href
    if (trigger && openOrLoad(trigger)) event.preventDefault();
  }));
};
