/**
 * A VM's snapshots: the tree (name, time, size; a child is indented under its parent), Take snapshot,
 * and per snapshot Restore, Rename, Export, Clone and Delete; the automatic snapshot's age, and for a
 * VM that is not running but has a state to resume (it was running when the page went away, or
 * failed), Resume, with what it does beside Start.
 */
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { SnapshotRecord } from '../storage/snapshot-store.ts';
import type { VmEntry } from './library.ts';
import { AUTOSAVE_INTERVAL_MS, type SnapshotShelf } from './snapshots.ts';
import { ConfirmDialog, Dialog } from './Dialog.tsx';
import { formatMiB } from './format.ts';

interface Props {
  readonly entry: VmEntry;
  readonly shelf: SnapshotShelf;
  /** Selects another VM (a clone). */
  readonly onSelectVm: (id: string) => void;
}

export function SnapshotPanel({ entry, shelf, onSelectVm }: Props) {
  const { controller, definition } = entry;
  const vmId = definition.id;
  const view = useSyncExternalStore(controller.subscribe, controller.getView);
  const state = useSyncExternalStore(shelf.subscribe, shelf.getSnapshot);
  const [renaming, setRenaming] = useState<SnapshotRecord | null>(null);
  const [renameText, setRenameText] = useState('');
  const [deleting, setDeleting] = useState<SnapshotRecord | null>(null);
  const now = useNow(1000);

  const records = state.records.filter((r) => r.vmId === vmId && r.kind === 'manual');
  const autosave = shelf.autosaveOf(vmId);
  const resumable = shelf.resumeOf(vmId);
  const elsewhere = useSyncExternalStore(shelf.locks.subscribe, shelf.locks.getSnapshot).elsewhere.has(vmId);
  const busy = state.busy.has(vmId) || elsewhere;
  const live = view.phase === 'running' || view.phase === 'paused';
  const idle = view.phase === 'stopped' || view.phase === 'error' || live;
  const error = state.errors.get(vmId);
  const head = controller.head;

  const childrenOf = new Map<string | null, SnapshotRecord[]>();
  const ids = new Set(records.map((r) => r.id));
  for (const record of records) {
    const parent = record.parent !== null && ids.has(record.parent) ? record.parent : null;
    childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), record]);
  }

  const exportSnapshot = async (record: SnapshotRecord) => {
    const file = await shelf.exportFile(entry, record.id);
    if (!file) return;
    const url = URL.createObjectURL(file.blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = file.fileName;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };

  const renderLevel = (parent: string | null, depth: number) => {
    const level = childrenOf.get(parent);
    if (!level) return null;
    return (
      <ul className="snapshot-list" aria-label={depth === 0 ? `Snapshots of ${definition.name}` : undefined}>
        {level.map((record) => (
          <li key={record.id} data-testid={`snapshot-${record.name}`}>
            <div className="snapshot-row">
              <span className="snapshot-name">
                {record.name}
                {record.id === head && <span className="badge tone-on">current</span>}
              </span>
              <span className="vm-meta">
                {new Date(record.createdAt).toLocaleString()} · {formatMiB(record.size)}
                {record.parent !== null ? ' · changes only' : ''}
              </span>
              <span className="snapshot-actions">
                <SnapshotAction
                  action="Restore"
                  of={record.name}
                  disabled={busy || !idle}
                  onClick={() => void shelf.restore(entry, record.id)}
                />
                <SnapshotAction
                  action="Rename"
                  of={record.name}
                  disabled={busy}
                  onClick={() => {
                    setRenameText(record.name);
                    setRenaming(record);
                  }}
                />
                <SnapshotAction
                  action="Export"
                  of={record.name}
                  disabled={busy}
                  onClick={() => void exportSnapshot(record)}
                />
                <SnapshotAction
                  action="Clone"
                  of={record.name}
                  disabled={busy}
                  onClick={() =>
                    void shelf.clone(entry, record.id).then((clone) => {
                      if (clone) onSelectVm(clone.definition.id);
                    })
                  }
                />
                <SnapshotAction
                  action="Delete"
                  of={record.name}
                  disabled={busy}
                  danger
                  onClick={() => setDeleting(record)}
                />
              </span>
            </div>
            {renderLevel(record.id, depth + 1)}
          </li>
        ))}
      </ul>
    );
  };

  return (
    <section
      className="snapshots"
      aria-labelledby={`snapshots-title-${vmId}`}
      data-testid="snapshots"
      data-restores={view.restores}
    >
      <div className="snapshots-head">
        <h3 id={`snapshots-title-${vmId}`}>Snapshots</h3>
        <button type="button" className="button" disabled={!live || busy} onClick={() => void shelf.take(entry)}>
          Take snapshot
        </button>
        {busy && (
          <span className="vm-meta" role="status">
            Working…
          </span>
        )}
        <span
          className="vm-meta autosave"
          data-testid="autosave-status"
          data-saved-at={autosave?.createdAt ?? ''}
          data-paused-ms={state.captures.get(vmId)?.pausedMs ?? ''}
          data-stored-ms={state.captures.get(vmId)?.storedMs ?? ''}
        >
          {autosave
            ? `Automatic snapshot: ${formatAge(now - autosave.createdAt)}; renewed every ${AUTOSAVE_INTERVAL_MS / 1000} s while the guest changes, and when you leave the page`
            : live
              ? `Automatic snapshot: none yet (taken every ${AUTOSAVE_INTERVAL_MS / 1000} s while the guest changes, and when you leave the page)`
              : ''}
        </span>
        {resumable && !live && (
          <button
            type="button"
            className="button primary"
            disabled={busy || !idle}
            onClick={() => void shelf.resume(entry)}
          >
            {resumable.kind === 'auto' ? 'Resume from automatic snapshot' : `Resume from ${resumable.name}`}
          </button>
        )}
      </div>
      {resumable && !live && (
        <p className="hint" data-testid="resume-hint">
          Resume continues {definition.name} from the newest state saved while it ran. Start boots it afresh from its
          disk instead, and discards that state.
        </p>
      )}
      {error && (
        <div className="banner error" role="alert" data-testid="snapshot-error">
          <p>{error}</p>
          <button type="button" className="button" onClick={() => shelf.clearError(vmId)}>
            Dismiss
          </button>
        </div>
      )}
      {records.length === 0 ? (
        <p className="hint">{state.loaded ? 'No snapshots yet. Take one while the VM runs.' : 'Loading snapshots…'}</p>
      ) : (
        <div className="snapshot-tree">{renderLevel(null, 0)}</div>
      )}

      <Dialog
        open={renaming !== null}
        title="Rename snapshot"
        onClose={() => setRenaming(null)}
        labelledBy="rename-snapshot-title"
      >
        <form
          onSubmit={(event) => {
            event.preventDefault();
            const record = renaming;
            setRenaming(null);
            if (record && renameText.trim()) void shelf.rename(vmId, record.id, renameText);
          }}
        >
          <div className="field">
            <label htmlFor="rename-snapshot-input">Snapshot name</label>
            <input
              id="rename-snapshot-input"
              value={renameText}
              autoFocus
              onChange={(e) => setRenameText(e.target.value)}
            />
          </div>
          <div className="dialog-actions">
            <button type="button" className="button" onClick={() => setRenaming(null)}>
              Cancel
            </button>
            <button type="submit" className="button primary" disabled={!renameText.trim()}>
              Rename
            </button>
          </div>
        </form>
      </Dialog>

      <ConfirmDialog
        open={deleting !== null}
        title={`Delete snapshot ${deleting?.name ?? ''}?`}
        labelledBy="delete-snapshot-title"
        confirmLabel="Delete"
        onCancel={() => setDeleting(null)}
        onConfirm={() => {
          const record = deleting;
          setDeleting(null);
          if (record) void shelf.remove(vmId, record.id);
        }}
      >
        The snapshot is removed from this browser. Snapshots taken after it stay restorable. This cannot be undone.
      </ConfirmDialog>
    </section>
  );
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h ago` : `${Math.round(h / 24)} days ago`;
}

/** One of a snapshot's buttons: its text is the action, its accessible name the action and the snapshot's name. */
function SnapshotAction(props: {
  action: string;
  of: string;
  disabled: boolean;
  danger?: boolean;
  onClick: () => void;
}) {
  return (
    <button
      type="button"
      className={props.danger ? 'button small danger' : 'button small'}
      disabled={props.disabled}
      aria-label={`${props.action} ${props.of}`}
      onClick={props.onClick}
    >
      {props.action}
    </button>
  );
}
