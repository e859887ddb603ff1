// @ts-check

/**
 * Wraps fn so that it reports errors instead of throwing them: the host page must never
 * see ours.
 *
 * @template {unknown[]} A
 * @template R
 * @param {(...args: A) => R} fn
 * @returns {(...args: A) => R | undefined} fn, returning undefined where it threw
 */
export const guard = (fn) => (...args) => {
  try {
    return fn(...args);
  } catch (err) {
    try { console.error('consentlog:', err); } catch (_) { /* no console */ }
  }
};
