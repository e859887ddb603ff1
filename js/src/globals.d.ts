// The page globals the script reads (gtag, from Google's tag) and writes (its own API).
interface Window {
  consentlog?: {
    open: () => void;
    categories: () => Record<string, boolean>;
  };
  gtag?: (...args: unknown[]) => void;
}
