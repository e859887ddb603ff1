// The page globals the script reads and writes (its own API).
interface Window {
  consentlog?: {
    open: () => void;
    categories: () => Record<string, boolean>;
    track: (name: unknown, props?: unknown) => void;
  };
}
