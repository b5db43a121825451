import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App.tsx';
import { Library } from './app/library.ts';
import { SnapshotShelf, resumeOnLoadEnabled } from './app/snapshots.ts';
import { loadRelaySetting } from './app/relay-setting.ts';
import { setPageRelay } from './controller/page-network.ts';
import { startGuestServers } from './app/guest-servers.ts';
import './app/app.css';

// Shared memory needs a cross-origin isolated page (COOP + COEP headers); without it every VM runs in
// the fallback mode (private memory, message-based console), which the header says.
const shared = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined';
const library = new Library(shared);
setPageRelay(loadRelaySetting()); // before any VM starts (a resumed one too), so its network has it
const shelf = new SnapshotShelf(library);
shelf.startAutosave(window);
shelf.locks.watch(window);
if (resumeOnLoadEnabled()) void shelf.resumeRunning();
startGuestServers(library);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App library={library} shelf={shelf} />
  </StrictMode>,
);
