/** The tabvm shell: the VM library on the left, the selected VM's controls and console on the right. */
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import type { Library, VmEntry } from './library.ts';
import { VmList } from './VmList.tsx';
import { VmPane } from './VmPane.tsx';
import { ConsolePane } from './ConsolePane.tsx';
import { NewVmDialog } from './NewVmDialog.tsx';
import { RelayDialog } from './RelayDialog.tsx';
import { ConfirmDialog } from './Dialog.tsx';
import { ResourceHistory, sampleEverySecond } from './resources.ts';
import { ResourceTotalsLine } from './ResourcePanel.tsx';
import { resumeOnLoadEnabled, setResumeOnLoad, type SnapshotShelf } from './snapshots.ts';

const SCREEN_READER_KEY = 'tabvm.screenReaderMode';

export function App({ library, shelf }: { library: Library; shelf: SnapshotShelf }) {
  const snapshot = useSyncExternalStore(library.subscribe, library.getSnapshot);
  const shelfState = useSyncExternalStore(shelf.subscribe, shelf.getSnapshot);
  const { elsewhere } = useSyncExternalStore(shelf.locks.subscribe, shelf.locks.getSnapshot);
  const [resumeOnLoad, setResumeOnLoadState] = useState(() => resumeOnLoadEnabled());
  const importInput = useRef<HTMLInputElement>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [newOpen, setNewOpen] = useState(false);
  const [relayOpen, setRelayOpen] = useState(false);
  const [deleteId, setDeleteId] = useState<string | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [focusToken, setFocusToken] = useState(0);
  const [screenReader, setScreenReader] = useState(() => localStorage.getItem(SCREEN_READER_KEY) === '1');
  useEffect(() => {
    localStorage.setItem(SCREEN_READER_KEY, screenReader ? '1' : '0');
  }, [screenReader]);

  useEffect(() => {
    void library.load();
    void shelf.load();
  }, [library, shelf]);

  const [resources] = useState(() => new ResourceHistory());
  useEffect(
    () =>
      sampleEverySecond(resources, () =>
        library.getSnapshot().entries.map((e) => ({ id: e.definition.id, view: e.controller.getView() })),
      ),
    [library, resources],
  );

  const entries = snapshot.entries;
  const selected = entries.find((e) => e.definition.id === selectedId) ?? entries[0] ?? null;
  const toDelete = entries.find((e) => e.definition.id === deleteId) ?? null;

  const suggestedName = useMemo(() => {
    for (let n = 1; ; n++) if (!library.isNameTaken(`vm-${n}`)) return `vm-${n}`;
  }, [library, entries]);

  const select = useCallback((id: string) => {
    setSelectedId(id);
    setFocusToken((n) => n + 1);
  }, []);

  return (
    <div className="shell">
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ▣
          </span>
          <h1>tabvm</h1>
          <span className="tagline">RISC-V virtual machines in your browser tab</span>
        </div>
        <div className="topbar-right">
          <a className="topbar-link" href="tutorial.html">
            Tutorial: Linux in your browser
          </a>
          <label
            className="toggle"
            title="VMs that were running when the page closed or reloaded continue where they were when it opens again"
          >
            <input
              type="checkbox"
              checked={resumeOnLoad}
              onChange={(e) => {
                setResumeOnLoad(e.target.checked);
                setResumeOnLoadState(e.target.checked);
              }}
            />
            Resume VMs on reload
          </label>
          <button
            type="button"
            className="button"
            title="A wisp relay for the VMs' full TCP and UDP (beyond http:// on port 80)"
            onClick={() => setRelayOpen(true)}
            data-testid="relay-open"
          >
            Relay…
          </button>
          <label className="toggle">
            <input type="checkbox" checked={screenReader} onChange={(e) => setScreenReader(e.target.checked)} />
            Screen reader mode
          </label>
          <span
            className={`mode ${library.shared ? 'mode-shared' : 'mode-fallback'}`}
            data-testid="mode"
            title={
              library.shared
                ? 'The page is cross-origin isolated: guest RAM is shared memory and consoles use shared ring buffers.'
                : 'The page is not cross-origin isolated (no COOP/COEP headers): VMs use private memory and a message-based console. Everything works, a little slower.'
            }
          >
            {library.shared ? 'Isolated mode · shared memory' : 'Compatibility mode · message console'}
          </span>
        </div>
      </header>

      <aside className="sidebar" aria-label="VM library">
        <div className="sidebar-head">
          <h2>Virtual machines</h2>
          <button type="button" className="button primary" onClick={() => setNewOpen(true)}>
            New VM
          </button>
        </div>
        {!snapshot.loaded ? (
          <p className="hint">Loading your VMs…</p>
        ) : entries.length === 0 ? (
          <p className="hint">No VMs yet.</p>
        ) : (
          <VmList
            entries={entries}
            selectedId={selected?.definition.id ?? null}
            onSelect={select}
            elsewhere={elsewhere}
          />
        )}
        {snapshot.loadError && <p className="field-error">{snapshot.loadError}</p>}
        {deleteError && (
          <div className="banner error" role="alert" data-testid="delete-error">
            <p>{deleteError}</p>
            <button type="button" className="button" onClick={() => setDeleteError(null)}>
              Dismiss
            </button>
          </div>
        )}
        <div className="sidebar-foot">
          <ResourceTotalsLine history={resources} />
          <button
            type="button"
            className="button"
            disabled={shelfState.busy.has('')}
            onClick={() => importInput.current?.click()}
          >
            Import snapshot…
          </button>
          <input
            ref={importInput}
            type="file"
            accept=".tabvm,application/octet-stream"
            aria-label="Snapshot file to import"
            data-testid="import-snapshot"
            hidden
            onChange={(event) => {
              const file = event.target.files?.[0];
              event.target.value = '';
              if (file) void shelf.importFile(file).then((entry) => entry && select(entry.definition.id));
            }}
          />
          {shelfState.errors.get('') && (
            <div className="banner error" role="alert" data-testid="import-error">
              <p>{shelfState.errors.get('')}</p>
              <button type="button" className="button" onClick={() => shelf.clearError('')}>
                Dismiss
              </button>
            </div>
          )}
        </div>
      </aside>

      <main className="main">
        {snapshot.loaded && entries.length === 0 && (
          <div className="empty">
            <h2>Create your first virtual machine</h2>
            <p>
              A VM runs a real RISC-V Linux — OpenSBI, a Linux kernel and a busybox shell — entirely inside this tab.
              Nothing is installed and nothing leaves your machine.
            </p>
            <button type="button" className="button primary large" onClick={() => setNewOpen(true)}>
              New VM
            </button>
          </div>
        )}
        {selected && (
          <VmPane
            key={selected.definition.id}
            entry={selected}
            library={library}
            resources={resources}
            shelf={shelf}
            onSelectVm={select}
            onDelete={() => setDeleteId(selected.definition.id)}
            onStarted={() => setFocusToken((n) => n + 1)}
          />
        )}
        {entries.length > 0 && (
          <div className="consoles">
            {entries.map((entry) => (
              <ConsoleFrame key={entry.definition.id} entry={entry} hidden={entry !== selected}>
                <ConsolePane
                  name={entry.definition.name}
                  controller={entry.controller}
                  visible={entry === selected}
                  focusToken={focusToken}
                  screenReaderMode={screenReader}
                />
              </ConsoleFrame>
            ))}
          </div>
        )}
        {selected && (
          <p className="console-hint">
            Ctrl+Shift+C copies the selection · Ctrl+Shift+V pastes · <kbd>poweroff</kbd> in the guest shuts it down
          </p>
        )}
      </main>

      <NewVmDialog
        open={newOpen}
        onClose={() => setNewOpen(false)}
        isNameTaken={(name) => library.isNameTaken(name)}
        suggestedName={suggestedName}
        onCreate={async ({ custom, ...fields }) => {
          const entry = await library.create(fields, custom);
          setNewOpen(false);
          setSelectedId(entry.definition.id);
        }}
      />

      <RelayDialog open={relayOpen} onClose={() => setRelayOpen(false)} />

      <ConfirmDialog
        open={toDelete !== null}
        title={`Delete ${toDelete?.definition.name ?? ''}?`}
        labelledBy="delete-title"
        confirmLabel="Delete"
        onCancel={() => setDeleteId(null)}
        onConfirm={() => {
          const id = deleteId;
          setDeleteId(null);
          setDeleteError(null);
          if (id) void library.remove(id).catch((error: unknown) => setDeleteError((error as Error).message));
        }}
      >
        The VM is powered off and removed from the library with its snapshots. Its console output is lost. This cannot
        be undone.
      </ConfirmDialog>
    </div>
  );
}

/** The console's frame, with an empty state until the VM has printed something. */
function ConsoleFrame({ entry, hidden, children }: { entry: VmEntry; hidden: boolean; children: ReactNode }) {
  const view = useSyncExternalStore(entry.controller.subscribe, entry.controller.getView);
  return (
    <div className="console-frame" data-hidden={hidden || undefined} aria-hidden={hidden || undefined} inert={hidden}>
      {children}
      {!view.hasOutput && (
        <div className="console-empty" aria-hidden="true">
          The console of {entry.definition.name} shows the boot log and a shell once the VM starts.
        </div>
      )}
    </div>
  );
}
