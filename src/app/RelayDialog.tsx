/**
 * Relay…: the page's relay for the VMs' network (relay-setting.ts). One for the page, since its VMs share
 * one network; a change applies to new connections at once, and resets those through the old relay.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { Dialog } from './Dialog.tsx';
import { loadRelaySetting, saveRelaySetting } from './relay-setting.ts';

interface Props {
  readonly open: boolean;
  readonly onClose: () => void;
}

export function RelayDialog({ open, onClose }: Props) {
  const [url, setUrl] = useState('');
  const [everything, setEverything] = useState(false);
  const [problem, setProblem] = useState<string | undefined>();
  const [stored, setStored] = useState(false);

  useEffect(() => {
    if (!open) return;
    const setting = loadRelaySetting();
    setUrl(setting?.url ?? '');
    setEverything(setting?.everything ?? false);
    setStored(setting !== undefined);
    setProblem(undefined);
  }, [open]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = url.trim();
    const failure = saveRelaySetting(trimmed === '' ? undefined : { url: trimmed, everything });
    setProblem(failure);
    if (!failure) onClose();
  };

  return (
    <Dialog open={open} title="Network relay" onClose={onClose} labelledBy="relay-title">
      <form onSubmit={submit} noValidate data-testid="relay-settings">
        <p className="field-hint">
          A browser page can only fetch http:// on port 80 for its VMs. A wisp relay that you run (
          <kbd>npm run relay</kbd> starts one) gives them full TCP and UDP: ssh, git, any port. Every VM of this tab
          uses it; the relay connects where the VMs ask, so use one you trust.
        </p>
        <div className="field">
          <label htmlFor="relay-url">Relay URL</label>
          <input
            id="relay-url"
            autoFocus
            value={url}
            placeholder="ws://127.0.0.1:8765/"
            onChange={(e) => setUrl(e.target.value)}
            aria-invalid={problem !== undefined}
            aria-describedby="relay-url-hint"
            autoComplete="off"
            spellCheck={false}
            data-testid="relay-url"
          />
          <p
            id="relay-url-hint"
            className={problem ? 'field-error' : 'field-hint'}
            role={problem ? 'alert' : undefined}
            data-testid="relay-url-hint"
          >
            {problem ?? 'Empty: no relay (only http:// on port 80 reaches the web).'}
          </p>
        </div>
        <div className="field">
          <label className="toggle">
            <input
              type="checkbox"
              checked={everything}
              onChange={(e) => setEverything(e.target.checked)}
              aria-describedby="relay-everything-hint"
              data-testid="relay-everything"
            />
            HTTP on port 80 through the relay too
          </label>
          <p id="relay-everything-hint" className="field-hint">
            Off: port 80 stays fetch() from this page, which serves the site&apos;s package mirror and needs no relay.
          </p>
        </div>
        <div className="dialog-actions">
          {stored && (
            <button
              type="button"
              className="button"
              onClick={() => {
                saveRelaySetting(undefined);
                onClose();
              }}
            >
              Turn off
            </button>
          )}
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" data-testid="relay-save">
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
