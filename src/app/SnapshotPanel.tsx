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
import { CUSTOM_IMAGE_ID } from '../controller/images.ts';

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
  const [taking, setTaking] = useState(false);
  const [takeName, setTakeName] = useState('');
  const [takeDescription, setTakeDescription] = useState('');
  const [restoring, setRestoring] = useState<SnapshotRecord | null>(null);
  const [cloning, setCloning] = useState<SnapshotRecord | null>(null);
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
  const base = definition.linkedTo && state.records.find((r) => r.id === definition.linkedTo?.snapshotId);

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

  // Where the VM stands: under the snapshot it last took or was restored from, else at the top level.
  const currentUnder = head !== undefined && ids.has(head) ? head : null;
  const changed = shelf.changedSinceSnapshot(entry);
  const currentState = (
    <li data-testid="current-state" data-changed={changed} data-under={currentUnder ?? ''}>
      <div className="snapshot-row current-state">
        <span className="snapshot-name">Current state</span>
        <span className="vm-meta">
          {!live
            ? 'powered off'
            : currentUnder === null
              ? 'running; no snapshot holds it'
              : changed
                ? 'changed since the snapshot above'
                : 'as the snapshot above'}
        </span>
      </div>
    </li>
  );
  const restoreAsked = (record: SnapshotRecord) => {
    if (shelf.changedSinceSnapshot(entry)) setRestoring(record);
    else void shelf.restore(entry, record.id);
  };

  const renderLevel = (parent: string | null, depth: number) => {
    const level = childrenOf.get(parent) ?? [];
    if (level.length === 0 && currentUnder !== parent) return null;
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
              {record.description && (
                <span className="snapshot-description" data-testid="snapshot-description">
                  {record.description}
                </span>
              )}
              <span className="snapshot-actions">
                <SnapshotAction
                  action="Restore"
                  of={record.name}
                  disabled={busy || !idle}
                  onClick={() => restoreAsked(record)}
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
                <SnapshotAction action="Clone" of={record.name} disabled={busy} onClick={() => setCloning(record)} />
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
        {currentUnder === parent && currentState}
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
        <button
          type="button"
          className="button"
          disabled={!live || busy}
          onClick={() => {
            setTakeName(shelf.nextSnapshotName(vmId));
            setTakeDescription('');
            setTaking(true);
          }}
        >
          Take snapshot…
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
      {base && (
        <p className="vm-meta" data-testid="linked-base">
          Linked clone of {shelf.vmName(base.vmId) ?? 'a deleted VM'}, from its snapshot “{base.name}”: its own
          snapshots store only what changed since.
        </p>
      )}
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
      {records.length === 0 && (
        <p className="hint">{state.loaded ? 'No snapshots yet. Take one while the VM runs.' : 'Loading snapshots…'}</p>
      )}
      <div className="snapshot-tree">{renderLevel(null, 0)}</div>

      <Dialog open={taking} title="Take snapshot" onClose={() => setTaking(false)} labelledBy="take-snapshot-title">
        <form
          onSubmit={(event) => {
            event.preventDefault();
            setTaking(false);
            void shelf.take(entry, { name: takeName, description: takeDescription });
          }}
        >
          <div className="field">
            <label htmlFor="take-snapshot-name">Snapshot name</label>
            <input
              id="take-snapshot-name"
              value={takeName}
              autoFocus
              maxLength={128}
              onChange={(e) => setTakeName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="take-snapshot-description">Description (optional)</label>
            <textarea
              id="take-snapshot-description"
              rows={3}
              maxLength={2000}
              value={takeDescription}
              onChange={(e) => setTakeDescription(e.target.value)}
              onKeyDown={(e) => {
                // Enter takes the snapshot here too; Shift+Enter starts a new line.
                if (e.key === 'Enter' && !e.shiftKey) {
                  e.preventDefault();
                  e.currentTarget.form?.requestSubmit();
                }
              }}
            />
            <p className="field-hint">Enter takes it; Shift+Enter starts a new line.</p>
          </div>
          <div className="dialog-actions">
            <button type="button" className="button" onClick={() => setTaking(false)}>
              Cancel
            </button>
            <button type="submit" className="button primary">
              Take snapshot
            </button>
          </div>
        </form>
      </Dialog>

      <ConfirmDialog
        open={restoring !== null}
        title={`Restore ${restoring?.name ?? ''}?`}
        labelledBy="restore-snapshot-title"
        confirmLabel="Restore"
        onCancel={() => setRestoring(null)}
        onConfirm={() => {
          const record = restoring;
          setRestoring(null);
          if (record) void shelf.restore(entry, record.id);
        }}
      >
        The current state of {definition.name} has changed since its last snapshot. Restoring {restoring?.name} discards
        what the guest did since — take a snapshot first to keep it.
      </ConfirmDialog>

      <CloneDialog
        record={cloning}
        vmName={definition.name}
        linkable={definition.image !== CUSTOM_IMAGE_ID}
        isNameTaken={(name) => shelf.isNameTaken(name)}
        onClose={() => setCloning(null)}
        onClone={(name, kind) => {
          const record = cloning;
          setCloning(null);
          if (record)
            void shelf.clone(entry, record.id, name, kind).then((clone) => {
              if (clone) onSelectVm(clone.definition.id);
            });
        }}
      />

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

/**
 * Clone…: the new VM's name, and which kind (docs/snapshots.md, "Clones"). A full clone is a VM of its
 * own holding the snapshot's state (its chain merged into one file). A linked clone shares the parent's
 * snapshot instead of copying it, and ties the two together: the snapshot and its VM stay while the
 * clone exists. A VM on the person's own disk image is cloned in full only.
 */
function CloneDialog(props: {
  record: SnapshotRecord | null;
  vmName: string;
  linkable: boolean;
  isNameTaken: (name: string) => boolean;
  onClose: () => void;
  onClone: (name: string, kind: 'full' | 'linked') => void;
}) {
  const { record, vmName } = props;
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'full' | 'linked'>('full');
  const [submitted, setSubmitted] = useState(false);
  useEffect(() => {
    if (!record) return;
    let suggestion = `${vmName}-clone`;
    for (let n = 2; props.isNameTaken(suggestion); n++) suggestion = `${vmName}-clone-${n}`;
    setName(suggestion);
    setKind('full');
    setSubmitted(false);
    // Only a newly opened dialog gets a suggestion (isNameTaken is a new function at every render).
  }, [record, vmName]);
  const trimmed = name.trim();
  const nameError =
    trimmed === ''
      ? 'Give the clone a name.'
      : props.isNameTaken(trimmed)
        ? `A VM named “${trimmed}” already exists.`
        : null;
  return (
    <Dialog
      open={record !== null}
      title={`Clone ${record?.name ?? ''}`}
      onClose={props.onClose}
      labelledBy="clone-title"
    >
      <form
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          setSubmitted(true);
          if (!nameError) props.onClone(trimmed, kind);
        }}
      >
        <div className="field">
          <label htmlFor="clone-name">Name of the new VM</label>
          <input
            id="clone-name"
            value={name}
            autoFocus
            maxLength={64}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={submitted && nameError !== null}
            aria-describedby="clone-name-error"
          />
          <p id="clone-name-error" className="field-error" role={submitted && nameError ? 'alert' : undefined}>
            {submitted ? nameError : ''}
          </p>
        </div>
        <fieldset className="field clone-kind">
          <legend>Kind</legend>
          <label>
            <input
              type="radio"
              name="clone-kind"
              value="full"
              checked={kind === 'full'}
              onChange={() => setKind('full')}
            />{' '}
            Full clone: a VM of its own with this snapshot’s state, its memory and disk copied; it keeps working if{' '}
            {vmName} is deleted.
          </label>
          <label className={props.linkable ? undefined : 'disabled'}>
            <input
              type="radio"
              name="clone-kind"
              value="linked"
              checked={kind === 'linked'}
              disabled={!props.linkable}
              onChange={() => setKind('linked')}
              aria-describedby="clone-linked-hint"
            />{' '}
            Linked clone: starts from this snapshot without copying it, and stores only what it changes.
          </label>
          <p id="clone-linked-hint" className="field-hint">
            {props.linkable
              ? `While a linked clone exists, this snapshot and ${vmName} cannot be deleted.`
              : `${vmName} is on your own disk image, whose stored files a linked clone cannot share: clone it in full.`}
          </p>
        </fieldset>
        <div className="dialog-actions">
          <button type="button" className="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary">
            Clone
          </button>
        </div>
      </form>
    </Dialog>
  );
}
