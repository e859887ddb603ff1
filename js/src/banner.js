/*
 * consentlog banner: progressive enhancement of the server-rendered consent form.
 * Without this script the form posts natively and the server answers 303, so every
 * failure path here falls back to that instead of losing the visitor's decision.
 * ES2017, no dependencies, never throws into the host page.
 */
(() => {
  'use strict';

  // A page may include the script twice (injected and by hand): one instance is enough.
  if (window.consentlog) return;

  // currentScript is only set while this file is first evaluated, so capture it now.
  const currentScript = document.currentScript;
  const scriptPrefix = currentScript && currentScript.src
    ? currentScript.src.replace(/\/banner\.js([?#].*)?$/, '')
    : '/_consent';

  let banner = null; // #cl-banner
  let form = null;
  let settings = null; // <details class="cl-settings">
  let boxes = []; // category checkboxes, including the locked (disabled) ones
  let prefix = scriptPrefix;
  let categories = {}; // e.g. {necessary: true, analytics: false, marketing: true}
  let returnFocus = null; // where focus goes back to after a reopened banner closes
  let dismissible = false; // true only when reopened via data-consent-open / open()
  let lastClicked = null; // submitter fallback for browsers without event.submitter
  let busy = false;
  let consentDefaultSent = false;

  // Runs fn, reporting instead of throwing: the host page must never see our errors.
  const guard = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (err) {
      try { console.error('consentlog:', err); } catch (_) { /* no console */ }
    }
  };

  const isAccepted = (name) => categories[name] === true;

  const syncCheckboxes = () => {
    boxes.forEach((box) => {
      if (!box.disabled) box.checked = isAccepted(box.value);
    });
  };

  // Google Consent Mode v2. The default (all denied) is sent once, before any update,
  // even when gtag only appears later (e.g. from a script activated by consent).
  const sendConsentMode = (kind) => {
    if (typeof window.gtag !== 'function') return;
    const state = (name) => (kind === 'update' && isAccepted(name) ? 'granted' : 'denied');
    if (!consentDefaultSent) {
      consentDefaultSent = true;
      if (kind === 'update') sendConsentMode('default');
    }
    const ads = state('marketing');
    window.gtag('consent', kind, {
      ad_storage: ads,
      ad_user_data: ads,
      ad_personalization: ads,
      analytics_storage: state('analytics'),
    });
  };

  // <script type="text/plain" data-consent="analytics"> waits for its categories
  // (space-separated: all must be accepted). A copy with a runnable type executes.
  const activateScripts = () => {
    document.querySelectorAll('script[type="text/plain"][data-consent]').forEach((old) => {
      const needed = old.getAttribute('data-consent').split(/\s+/).filter(Boolean);
      if (!needed.every(isAccepted)) return;
      const script = document.createElement('script');
      [].forEach.call(old.attributes, (attr) => {
        if (attr.name !== 'type' && attr.name !== 'data-consent') {
          script.setAttribute(attr.name, attr.value);
        }
      });
      script.nonce = old.nonce; // the nonce attribute reads "" once CSP hides it
      script.async = old.hasAttribute('async'); // otherwise keep document order
      script.text = old.text;
      old.parentNode.replaceChild(script, old);
    });
  };

  const restoreFocus = () => {
    const target = returnFocus;
    returnFocus = null;
    if (target && target !== document.body && document.contains(target)) {
      target.focus();
    } else if (banner.contains(document.activeElement)) {
      document.activeElement.blur(); // focus falls back to document.body
    }
  };

  const hide = () => {
    banner.hidden = true;
    dismissible = false;
    restoreFocus();
  };

  const open = (trigger) => {
    if (!banner) return;
    if (banner.hidden) {
      // Reopened to change a decision: Escape may close it again without one.
      dismissible = true;
      banner.hidden = false;
    }
    if (!returnFocus) {
      const active = document.activeElement;
      returnFocus = active && active !== document.body ? active : trigger;
    }
    syncCheckboxes(); // show the stored choice, not edits abandoned earlier
    if (settings) settings.open = true;
    const first = boxes.find((box) => !box.disabled) || banner.querySelector('button');
    if (first) first.focus();
  };

  const applyDecision = (answer) => {
    categories = Object.assign({}, answer);
    banner.dataset.decided = '1';
    banner.dataset.accepted = boxes
      .filter((box) => !box.disabled && isAccepted(box.value))
      .map((box) => box.value)
      .join(' ');
    // "Our policy has changed" is answered now; it must not reappear on reopen.
    const notice = banner.querySelector('.cl-notice');
    if (notice) notice.parentNode.removeChild(notice);
    syncCheckboxes();
    hide();
    activateScripts();
    try { sendConsentMode('update'); } catch (_) { /* a broken gtag is not ours */ }
    document.dispatchEvent(new CustomEvent('consentlog:change', { detail: Object.assign({}, categories) }));
  };

  // Posts the form the way it works without JavaScript. form.submit() does not carry
  // the clicked button, so its name/value travels in a hidden input instead.
  const submitNatively = (action) => {
    let input = form.querySelector('input[type="hidden"][name="action"]');
    if (!input) {
      input = document.createElement('input');
      input.type = 'hidden';
      input.name = 'action';
      form.appendChild(input);
    }
    input.value = action;
    form.submit();
  };

  const onSubmit = (event) => {
    const submitter = event.submitter || lastClicked;
    // "Delete my data" posts to its own formaction: the browser does that best
    if (submitter && submitter.hasAttribute('formaction')) return;
    const action = submitter && submitter.name === 'action' ? submitter.value : '';
    if (!action || typeof window.fetch !== 'function') return; // let the browser post it
    event.preventDefault();
    if (busy) return;
    busy = true;

    let payload = { action };
    if (action === 'custom') {
      payload = { categories: {} };
      boxes.forEach((box) => {
        if (!box.disabled) payload.categories[box.value] = box.checked;
      });
    }
    Promise.resolve()
      .then(() => fetch(prefix, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(payload),
      }))
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((answer) => (answer && typeof answer.categories === 'object' && answer.categories
        ? answer.categories
        : Promise.reject(answer)))
      .then(guard((answer) => {
        busy = false;
        applyDecision(answer);
      }), () => submitNatively(action));
  };

  const setup = () => {
    form = banner.querySelector('form');
    settings = banner.querySelector('details');
    boxes = Array.from(banner.querySelectorAll('input[type="checkbox"][name="category"]'));
    prefix = banner.getAttribute('data-prefix') || scriptPrefix;

    // data-accepted is authoritative: restored form state (back button) may differ.
    const accepted = (banner.getAttribute('data-accepted') || '').split(/\s+/).filter(Boolean);
    boxes.forEach((box) => {
      categories[box.value] = box.disabled ? box.checked : accepted.indexOf(box.value) >= 0;
    });
    accepted.forEach((name) => { categories[name] = true; });
    syncCheckboxes();

    if (form) {
      form.addEventListener('submit', guard(onSubmit));
      form.addEventListener('click', (event) => {
        const button = event.target.closest && event.target.closest('button');
        if (button) lastClicked = button;
      });
    }
    banner.addEventListener('keydown', guard((event) => {
      if (event.key === 'Escape' && dismissible && !banner.hidden) hide();
    }));

    activateScripts();
    if (banner.getAttribute('data-decided') === '1') sendConsentMode('update');
  };

  // Pages that only include the script (streamed or compressed responses the
  // middleware cannot rewrite) get the banner markup from the server.
  const loadBanner = () => {
    const next = encodeURIComponent(location.pathname + location.search);
    fetch(scriptPrefix + '/banner.html?next=' + next, { credentials: 'same-origin' })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then(guard((html) => {
        document.body.insertAdjacentHTML('beforeend', html);
        banner = document.getElementById('cl-banner');
        if (!banner) return;
        // The fragment should bring its stylesheet; add one if it did not.
        if (!document.querySelector('link[href*="/banner.css"]')) {
          const link = document.createElement('link');
          link.rel = 'stylesheet';
          link.href = (banner.getAttribute('data-prefix') || scriptPrefix) + '/banner.css';
          document.head.appendChild(link);
        }
        setup();
      }))
      .catch(() => { /* no banner this time; the next page load tries again */ });
  };

  // The beacon: engaged time (page visible and focused), deepest scroll and the
  // "was this page useful?" vote of one page view, sent when the page is hidden or left.
  // The server marks pages of consented visitors with a page-view token (#cl-pv).
  let pv = null; // token of the current page view
  let path = location.pathname;
  let engaged = 0; // ms of visible and focused time, not counting the running stretch
  let since = null; // performance.now() when the running stretch began, or null
  let scroll = 0;
  let vote = null;
  let sent = '';

  const active = () => document.visibilityState === 'visible' && document.hasFocus();
  const tick = () => {
    const now = performance.now();
    if (since !== null) engaged += now - since;
    since = active() ? now : null;
  };
  const measureScroll = () => {
    const root = document.documentElement;
    const seen = root.scrollHeight > innerHeight
      ? ((scrollY + innerHeight) / root.scrollHeight) * 100 : 100;
    scroll = Math.max(scroll, Math.min(100, Math.round(seen)));
  };
  const beacon = (body) => {
    const data = JSON.stringify(body);
    if (!(navigator.sendBeacon && navigator.sendBeacon(prefix + '/beacon', data))) {
      fetch(prefix + '/beacon', { method: 'POST', body: data, keepalive: true, credentials: 'same-origin' })
        .catch(() => {});
    }
  };
  // Sends only what changed since the last send: hiding a tab twice is one row. Leaving
  // (pagehide, tab hidden) ends the running stretch, so the two events send once.
  const report = () => {
    if (!pv || !isAccepted('analytics')) return;
    tick();
    since = null;
    measureScroll();
    const body = { pv, path, engaged_ms: Math.round(engaged), scroll_pct: scroll, useful: vote };
    const key = JSON.stringify(body);
    if (key !== sent) {
      sent = key;
      beacon(body);
    }
  };
  // A single-page app changed its URL: close this page view, open the next one.
  const navigated = () => {
    if (!pv || location.pathname === path) return;
    report();
    const from = { pv, path, nav: location.pathname };
    pv = null;
    path = location.pathname;
    engaged = 0;
    scroll = 0;
    vote = null;
    sent = '';
    tick();
    fetch(prefix + '/beacon', {
      method: 'POST', credentials: 'same-origin', body: JSON.stringify(from),
      headers: { 'Content-Type': 'application/json' },
    }).then((r) => (r.ok ? r.json() : {})).then((answer) => { pv = answer.pv || null; }, () => {});
  };
  const feedback = (box) => {
    if (box.dataset.clDone) return;
    box.dataset.clDone = '1';
    box.setAttribute('role', 'group');
    const question = box.getAttribute('data-consent-feedback') || 'Was this page useful?';
    box.setAttribute('aria-label', question);
    box.innerHTML = '<span></span> <button type="button" value="1">Yes</button> '
      + '<button type="button" value="">No</button>';
    box.firstChild.textContent = question;
    box.addEventListener('click', guard((event) => {
      const button = event.target.closest('button');
      if (!button || vote !== null) return;
      vote = button.value === '1';
      box.textContent = 'Thank you for your feedback.';
    }));
  };
  const track = () => {
    const mark = document.getElementById('cl-pv');
    pv = mark && mark.getAttribute('data-pv');
    if (!pv) return;
    tick();
    measureScroll();
    ['focus', 'blur'].forEach((name) => addEventListener(name, guard(tick)));
    addEventListener('scroll', guard(measureScroll), { passive: true });
    document.addEventListener('visibilitychange', guard(() => {
      if (document.visibilityState === 'hidden') report();
      else tick();
    }));
    addEventListener('pagehide', guard(report));
    ['pushState', 'replaceState'].forEach((name) => {
      const original = history[name];
      history[name] = function () {
        const result = original.apply(this, arguments);
        guard(navigated)();
        return result;
      };
    });
    addEventListener('popstate', guard(navigated));
    document.querySelectorAll('[data-consent-feedback]').forEach(feedback);
  };

  const init = guard(() => {
    sendConsentMode('default');
    banner = document.getElementById('cl-banner');
    if (banner) setup();
    else if (typeof window.fetch === 'function') loadBanner();
    track();
  });

  document.addEventListener('click', guard((event) => {
    const trigger = event.target.closest && event.target.closest('[data-consent-open]');
    if (!trigger || !banner) return; // without a banner the link keeps its own href
    event.preventDefault();
    open(trigger);
  }));

  window.consentlog = {
    open: guard(() => open(null)),
    categories: () => Object.assign({}, categories),
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
