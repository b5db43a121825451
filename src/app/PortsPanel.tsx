/**
 * The pane's Ports panel (docs/app.md, "Ports"): the TCP ports the guest listens on (`VmView.guestPorts`,
 * from its agent), each with Open, and a port typed by hand, which works without an agent. Open shows
 * the guest's server in a new tab through the Service Worker (docs/networking.md, "Guest servers").
 */
import { useState, useSyncExternalStore } from 'react';
import { guestServerUrl } from '../controller/guest-servers.ts';
import type { VmEntry } from './library.ts';
import { guestServersState } from './guest-servers.ts';

function openPort(vmId: string, port: number): void {
  window.open(guestServerUrl(vmId, port), '_blank', 'noopener');
}

export function PortsPanel({ entry }: { entry: VmEntry }) {
  const { controller, definition } = entry;
  const view = useSyncExternalStore(controller.subscribe, controller.getView);
  const servers = useSyncExternalStore(guestServersState.subscribe, guestServersState.getSnapshot);
  const [typed, setTyped] = useState('');
  if (definition.network === false) return null;
  const running = view.phase === 'running';
  const canOpen = running && servers.status === 'ready';
  const port = Number(typed);
  const valid = /^\d{1,5}$/.test(typed) && port >= 1 && port <= 65535;
  return (
    <section className="ports" aria-labelledby={`ports-title-${definition.id}`} data-testid="ports">
      <div className="ports-head">
        <h3 id={`ports-title-${definition.id}`}>Ports</h3>
        {view.guestPorts.map((listening) => (
          <span key={listening} className="ports-item">
            TCP {listening}
            <button
              type="button"
              className="button small"
              disabled={!canOpen}
              aria-label={`Open port ${listening}`}
              onClick={() => openPort(definition.id, listening)}
            >
              Open
            </button>
          </span>
        ))}
        <form
          className="ports-form"
          onSubmit={(event) => {
            event.preventDefault();
            if (canOpen && valid) openPort(definition.id, port);
          }}
        >
          <label>
            <span className="visually-hidden">Port to open</span>
            <input
              type="text"
              inputMode="numeric"
              className="ports-input"
              placeholder="port"
              value={typed}
              aria-invalid={typed !== '' && !valid}
              onChange={(event) => setTyped(event.target.value.trim())}
            />
          </label>
          <button type="submit" className="button small" disabled={!canOpen || !valid}>
            Open port…
          </button>
        </form>
      </div>
      {!running && <p className="hint">Start the VM to open the servers it runs in a new tab.</p>}
      {servers.status === 'unavailable' && (
        <p className="hint" role="status">
          {servers.reason}
        </p>
      )}
    </section>
  );
}
