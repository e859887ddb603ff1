// Gives the modules in src/ a browser page to run against under node: a jsdom window
// installed as the globals they use (document, location, addEventListener, …).
import { JSDOM } from 'jsdom';

export const PAGE_URL = 'http://site.test/page';

const WINDOW_PROPERTIES = ['document', 'location', 'history', 'navigator', 'CustomEvent', 'innerHeight', 'scrollY'];

/**
 * Opens a new page with `body` inside <body> and makes it the global environment.
 * Inline scripts run, as in a browser, so that a test can see an activated one run.
 *
 * @param {string} [body]
 * @returns the page's window
 */
export const openPage = (body = '') => {
  const { window } = new JSDOM(`<!doctype html><html><head></head><body>${body}</body></html>`, {
    url: PAGE_URL,
    runScripts: 'dangerously',
    pretendToBeVisual: true, // document.visibilityState is "visible", as in a foreground tab
  });
  const globals = { window, addEventListener: window.addEventListener.bind(window) };
  for (const name of WINDOW_PROPERTIES) globals[name] = window[name];
  for (const [name, value] of Object.entries(globals)) {
    // defineProperty, because node has globals of some of these names (navigator) that
    // plain assignment cannot replace.
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  return window;
};
