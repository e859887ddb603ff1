// @ts-check
import { isAccepted, state } from './state.js';

/**
 * Google Consent Mode v2. The default (all denied) is sent once, before any update,
 * even when gtag only appears later (e.g. from a script activated by consent).
 *
 * @param {'default' | 'update'} kind
 * @returns {void}
 */
export const sendConsentMode = (kind) => {
  if (typeof window.gtag !== 'function') return;
  /** @param {string} name */
  const granted = (name) => (kind === 'update' && isAccepted(name) ? 'granted' : 'denied');
  if (!state.consentDefaultSent_) {
    state.consentDefaultSent_ = true;
    if (kind === 'update') sendConsentMode('default');
  }
  const ads = granted('marketing');
  window.gtag('consent', kind, {
    ad_storage: ads,
    ad_user_data: ads,
    ad_personalization: ads,
    analytics_storage: granted('analytics'),
  });
};
