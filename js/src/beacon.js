// @ts-check
/*
 * The beacon: engaged time (page visible and focused), deepest scroll and the
 * "was this page useful?" vote of one page view, sent when the page is hidden or left.
 * The server marks pages of consented visitors with a page-view token (#cl-pv); the
 * answer to a decision that accepts analytics carries one for the page it was made on.
 */
import { guard } from './guard.js';
import { onNavigate } from './history.js';
import { isAccepted, state } from './state.js';

/** @returns {boolean} whether the visitor is looking at the page now */
const active = () => document.visibilityState === 'visible' && document.hasFocus();

/**
 * Adds the running stretch to the engaged time and starts the next one if the page is
 * still active.
 *
 * @returns {void}
 */
const tick = () => {
  const now = performance.now();
  if (state.since_ !== null) state.engaged_ += now - state.since_;
  state.since_ = active() ? now : null;
};

/** @returns {void} */
const measureScroll = () => {
  const root = document.documentElement;
  const seen = root.scrollHeight > innerHeight
    ? ((scrollY + innerHeight) / root.scrollHeight) * 100 : 100;
  state.scroll_ = Math.max(state.scroll_, Math.min(100, Math.round(seen)));
};

/**
 * Posts ``data`` to a consent route as a beacon (fetch with keepalive where there is none).
 *
 * @param {string} route
 * @param {string} data
 * @returns {void}
 */
const post = (route, data) => {
  if (!(navigator.sendBeacon && navigator.sendBeacon(state.prefix_ + route, data))) {
    fetch(state.prefix_ + route, { method: 'POST', body: data, keepalive: true, credentials: 'same-origin' })
      .catch(() => {});
  }
};

/**
 * @param {object} body
 * @returns {void}
 */
const send = (body) => post('/beacon', JSON.stringify(body));

/**
 * Sends only what changed since the last send: hiding a tab twice is one row. Leaving
 * (pagehide, tab hidden) ends the running stretch, so the two events send once.
 *
 * @returns {void}
 */
const report = () => {
  if (!state.pv_ || !isAccepted('analytics')) return;
  tick();
  state.since_ = null;
  measureScroll();
  const body = {
    pv: state.pv_,
    path: state.path_,
    engaged_ms: Math.round(state.engaged_),
    scroll_pct: state.scroll_,
    useful: state.vote_,
  };
  const key = JSON.stringify(body);
  if (key !== state.sent_) {
    state.sent_ = key;
    send(body);
  }
};

/**
 * Reports a goal reached on this page view (a data-consent-goal link, button or form, or
 * consentlog.track): only for a page view the beacon measures, so only with consent.
 *
 * @param {unknown} name
 * @param {unknown} [props]
 * @returns {void}
 */
export const goal = (name, props) => {
  if (state.pv_ && isAccepted('analytics') && typeof name === 'string') {
    send({ pv: state.pv_, path: state.path_, goal: name, props });
  }
};

/**
 * A click on a data-consent-goal link or button, or the submission of such a form.
 *
 * @param {Event} event
 * @returns {void}
 */
const tracked = (event) => {
  const marked = /** @type {Element} */ (event.target).closest('[data-consent-goal]');
  if (marked && (event.type === 'submit') === (marked.tagName === 'FORM')) {
    goal(marked.getAttribute('data-consent-goal'));
  }
};

/**
 * A single-page app changed its URL: closes this page view and opens the next one.
 *
 * @returns {void}
 */
const navigated = () => {
  if (!state.pv_ || location.pathname === state.path_) return;
  report();
  const from = { pv: state.pv_, path: state.path_, nav: location.pathname };
  state.pv_ = null;
  state.path_ = location.pathname;
  state.engaged_ = 0;
  state.scroll_ = 0;
  state.vote_ = null;
  state.sent_ = '';
  tick();
  fetch(state.prefix_ + '/beacon', {
    method: 'POST', credentials: 'same-origin', body: JSON.stringify(from),
    headers: { 'Content-Type': 'application/json' },
  }).then((r) => (r.ok ? r.json() : {})).then((/** @type {{pv?: string}} */ answer) => {
    state.pv_ = answer.pv || null;
  }, () => {});
};

/**
 * Turns a data-consent-feedback placeholder into the "was this page useful?" widget.
 *
 * @param {HTMLElement} box
 * @returns {void}
 */
const feedback = (box) => {
  // the words, in the banner's language, rendered by the server on the banner or the
  // script tag (data-vote: question, yes, no, thanks on separate lines); without them
  // (a page that has neither yet) the page gets no widget
  const holder = state.banner_ || document.querySelector('[data-vote]');
  const words = ((holder && holder.getAttribute('data-vote')) || '').split('\n');
  if (box.dataset.clDone || !words[3]) return;
  box.dataset.clDone = '1';
  box.setAttribute('role', 'group');
  box.classList.add('cl-vote');
  words[0] = box.getAttribute('data-consent-feedback') || words[0];
  box.setAttribute('aria-label', words[0]);
  box.textContent = '';
  // <span>question</span> <button value="1">yes</button> <button value="">no</button>
  words.slice(0, 3).forEach((word, i) => {
    const node = document.createElement(i ? 'button' : 'span');
    node.textContent = word;
    if (i) {
      /** @type {HTMLButtonElement} */ (node).type = 'button';
      /** @type {HTMLButtonElement} */ (node).value = i < 2 ? '1' : '';
      box.append(' ');
    }
    box.append(node);
  });
  box.addEventListener('click', guard((event) => {
    const button = /** @type {Element} */ (event.target).closest('button');
    if (!button || state.vote_ !== null) return;
    state.vote_ = button.value === '1';
    box.textContent = words[3];
  }));
};

/**
 * Starts measuring this page view under its token: on load for a page the server marked
 * (#cl-pv), or on the page where the visitor accepts (the decision's answer carries the
 * token), so engaged time counts from the decision. The vote widgets appear at once.
 *
 * @param {string} token
 * @returns {void}
 */
export const start = (token) => {
  state.pv_ = token;
  state.path_ = location.pathname;
  state.engaged_ = 0;
  state.since_ = null;
  state.scroll_ = 0;
  tick();
  measureScroll();
  if (!state.listening_) {
    state.listening_ = true;
    ['focus', 'blur'].forEach((name) => addEventListener(name, guard(tick)));
    addEventListener('scroll', guard(measureScroll), { passive: true });
    document.addEventListener('visibilitychange', guard(() => {
      if (document.visibilityState === 'hidden') report();
      else tick();
    }));
    addEventListener('pagehide', guard(report));
    onNavigate(guard(navigated));
    // capture: before a link or form leaves the page
    ['click', 'submit'].forEach((name) => document.addEventListener(name, guard(tracked), true));
  }
  /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-consent-feedback]')).forEach(feedback);
};

/**
 * Measures the page view the server marked with #cl-pv[data-pv], if any. A page served
 * without consent carries a check token instead (#cl-pv[data-check]): sent back once, it
 * tells the server a browser ran this script — a verified browser view, nothing more.
 *
 * @returns {void}
 */
export const track = () => {
  const mark = document.getElementById('cl-pv');
  const token = mark && mark.getAttribute('data-pv');
  const check = mark && mark.getAttribute('data-check');
  if (token) start(token);
  if (check) post('/check', check);
};
