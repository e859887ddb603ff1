// @ts-check

/**
 * Calls listener after every navigation of a single-page app: pushState and replaceState
 * fire no event, so they are wrapped; going back and forward fires popstate.
 *
 * @param {() => void} listener
 * @returns {void}
 */
export const onNavigate = (listener) => {
  /** @type {('pushState' | 'replaceState')[]} */ (['pushState', 'replaceState']).forEach((name) => {
    const original = history[name];
    history[name] = function (...args) {
      const result = original.apply(this, args);
      listener();
      return result;
    };
  });
  addEventListener('popstate', listener);
};
