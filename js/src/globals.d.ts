// The page globals the script reads and writes (its own API).
interface Window {
  consentlog?: {
    open: () => void;
    categories: () => Record<string, boolean>;
    accepted: (name: unknown) => boolean;
    onChange: (callback: (categories: Record<string, boolean>) => void) => () => void;
    track: (name: unknown, props?: unknown) => void;
  };
}
