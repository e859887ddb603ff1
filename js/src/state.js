// @ts-check

/**
 * Everything the script remembers between events. One object rather than module-level
 * `let`s, because modules cannot assign each other's bindings. Its fields end in `_` so
 * that the minifier may shorten them (build.mjs: mangleProps), as it does local names.
 *
 * @typedef {object} State
 * @property {string} scriptPrefix_ where banner.js was loaded from, e.g. "/_consent"
 * @property {string} prefix_ the consent routes; the banner's data-prefix overrides scriptPrefix_
 * @property {string[] | null} tagAccepted_ a decided visitor's accepted categories, from the
 *   script tag's data-accepted; null when the tag carries no decision (the banner is in the page,
 *   or the script was included by hand)
 * @property {HTMLElement | null} banner_ #cl-banner, once found or loaded
 * @property {boolean} loading_ the banner is being fetched to be opened
 * @property {HTMLFormElement | null} form_ the banner's form
 * @property {HTMLDetailsElement | null} settings_ <details class="cl-settings">
 * @property {HTMLInputElement[]} boxes_ category checkboxes, including the locked (disabled) ones
 * @property {Record<string, boolean>} categories_ e.g. {necessary: true, analytics: false, marketing: true}
 * @property {HTMLElement | null} returnFocus_ where focus goes back to after a reopened banner closes
 * @property {boolean} dismissible_ true only when reopened via data-consent-open / open()
 * @property {HTMLButtonElement | null} lastClicked_ submitter fallback for browsers without event.submitter
 * @property {boolean} busy_ a decision is being posted
 * @property {string | null} pv_ token of the current page view (#cl-pv), null when not tracked
 * @property {string} path_ path of the current page view
 * @property {number} engaged_ ms of visible and focused time, not counting the running stretch
 * @property {number | null} since_ performance.now() when the running stretch began, or null
 * @property {number} scroll_ deepest scroll, percent of the page
 * @property {boolean | null} vote_ answer of the "was this page useful?" widget
 * @property {string} sent_ the last beacon body sent, to send only what changed
 * @property {boolean} listening_ the beacon's page listeners are attached (once a page)
 */

/** @returns {string} the prefix banner.js was loaded from, or the default one */
const loadedFrom = () => {
  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  return script && script.src ? script.src.replace(/\/banner\.js([?#].*)?$/, '') : '/_consent';
};

/** @returns {string[] | null} the decision the script tag carries (a decided visitor's page) */
const tagDecision = () => {
  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  if (!script || script.getAttribute('data-decided') !== '1') return null;
  return (script.getAttribute('data-accepted') || '').split(/\s+/).filter(Boolean);
};

/** @returns {State} the state of a page on which nothing has happened yet */
export const createState = () => {
  const scriptPrefix = loadedFrom();
  return {
    scriptPrefix_: scriptPrefix,
    prefix_: scriptPrefix,
    tagAccepted_: tagDecision(),
    banner_: null,
    loading_: false,
    form_: null,
    settings_: null,
    boxes_: [],
    categories_: {},
    returnFocus_: null,
    dismissible_: false,
    lastClicked_: null,
    busy_: false,
    pv_: null,
    path_: location.pathname,
    engaged_: 0,
    since_: null,
    scroll_: 0,
    vote_: null,
    sent_: '',
    listening_: false,
  };
};

// Created while the script is first evaluated: document.currentScript is only set then.
export const state = createState();

/**
 * @param {string} name a consent category, e.g. "analytics"
 * @returns {boolean} whether the visitor accepted it
 */
export const isAccepted = (name) => state.categories_[name] === true;
