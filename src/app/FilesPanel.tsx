/**
 * A VM's shared folder (/mnt/shared in the guest): the listing with name, size and time (folders first;
 * open a folder, go back by the breadcrumb), Upload files or a folder, drop on the panel or the console,
 * a progress bar while copying, the name-clash question, and per entry Download (a folder as a zip),
 * Rename and Delete; New folder. The model is files.ts. "Share a folder from this computer…" puts a
 * folder of the user's disk in place of the VM's own (host-folder.ts).
 *
 * What the guest changes shows up by polling: while the listing is shown and the tab visible, the folder
 * is listed again every REFRESH_MS. The panel reads the share's tree itself, so this works whether the VM
 * runs or not, and sees every writer alike (the guest, the embed API, another tab), where a notice from
 * the VM's 9p server would only cover the guest and only while it runs.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore, type DragEvent } from 'react';
import {
  formatBytes,
  GUEST_MOUNT,
  sourcesFromDataTransfer,
  sourcesFromFiles,
  type ClashChoice,
  type FilesSession,
  type FolderEntry,
} from './files.ts';
import { ConfirmDialog, Dialog } from './Dialog.tsx';
import type { HostFolderSetting } from './host-folder.ts';
import { HostFolderChooser } from './HostFolderChooser.tsx';

/** How often the listing is read again while it is shown. */
const REFRESH_MS = 1500;
const OPEN_KEY = 'tabvm.filesOpen';
const MODIFIED_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

interface Props {
  readonly session: FilesSession;
  readonly hostFolder: HostFolderSetting;
  readonly vmName: string;
}

export function FilesPanel({ session, hostFolder, vmName }: Props) {
  const view = useSyncExternalStore(session.subscribe, session.getView);
  const host = useSyncExternalStore(hostFolder.subscribe, hostFolder.getView);
  const [choosing, setChoosing] = useState(false);
  // Hidden until asked for, so the console keeps its room; the choice is remembered.
  const [open, setOpen] = useState(() => localStorage.getItem(OPEN_KEY) === '1');
  const [renaming, setRenaming] = useState<FolderEntry | null>(null);
  const [newName, setNewName] = useState('');
  const [deleting, setDeleting] = useState<FolderEntry | null>(null);
  const [creating, setCreating] = useState(false);
  const [forAll, setForAll] = useState(false);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const drop = useFileDrop(session);

  useEffect(() => {
    localStorage.setItem(OPEN_KEY, open ? '1' : '0');
    if (!open) return;
    void session.refresh();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void session.poll();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [open, session]);

  // A file dropped next to the panel or the console would make the browser open it in place of the
  // page, and its VMs with it: elsewhere on the page a drop of files does nothing.
  useEffect(() => {
    const refuse = (event: globalThis.DragEvent) => {
      if (!event.dataTransfer?.types.includes('Files') || event.defaultPrevented) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'none';
    };
    window.addEventListener('dragover', refuse);
    window.addEventListener('drop', refuse);
    return () => {
      window.removeEventListener('dragover', refuse);
      window.removeEventListener('drop', refuse);
    };
  }, []);

  const download = async (entry: FolderEntry) => {
    const file = await session.download(entry);
    if (!file) return;
    const url = URL.createObjectURL(file.blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = file.fileName;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };

  const answer = (choice: ClashChoice) => {
    session.answer(choice, forAll);
    setForAll(false);
  };

  const copy = view.copy;
  const crumbs = ['shared', ...view.dir];
  const where = [GUEST_MOUNT, ...view.dir].join('/');

  return (
    <section
      className="files"
      aria-labelledby="files-title"
      data-testid="files"
      data-dropping={drop.over || undefined}
      {...drop.handlers}
    >
      <div className="files-head">
        <h3 id="files-title">Files</h3>
        <button
          type="button"
          className="button small"
          aria-expanded={open}
          aria-controls="files-body"
          onClick={() => setOpen(!open)}
        >
          {open ? 'Hide files' : 'Show files'}
        </button>
        <button type="button" className="button small" onClick={() => filesInput.current?.click()}>
          Upload files…
        </button>
        <button type="button" className="button small" onClick={() => folderInput.current?.click()}>
          Upload folder…
        </button>
        {host.folder ? (
          <>
            <span className="vm-meta files-note" data-testid="files-note">
              {GUEST_MOUNT} in {vmName} · the folder “{host.folder.name}” on this computer
              {host.folder.readOnly ? ', read-only for the guest' : ''} · snapshots do not roll it back
            </span>
            {host.access !== undefined && host.access !== 'granted' && (
              <button type="button" className="button small primary" onClick={() => void hostFolder.allow()}>
                Allow access
              </button>
            )}
            <button type="button" className="button small" onClick={() => void hostFolder.stop()}>
              Stop sharing
            </button>
          </>
        ) : (
          <>
            <span className="vm-meta files-note" data-testid="files-note">
              {GUEST_MOUNT} in {vmName} · drop files here or on the console · kept in this browser, not in the VM:
              snapshots do not roll it back
            </span>
            {host.supported && (
              <button type="button" className="button small" onClick={() => setChoosing(true)}>
                Share a folder from this computer…
              </button>
            )}
          </>
        )}
        <input
          ref={filesInput}
          type="file"
          multiple
          hidden
          aria-label="Files to copy into the shared folder"
          data-testid="upload-files"
          onChange={(event) => {
            const files = [...(event.target.files ?? [])];
            event.target.value = '';
            if (files.length > 0) void session.copyIn(sourcesFromFiles(files));
          }}
        />
        <input
          ref={(element) => {
            folderInput.current = element;
            element?.setAttribute('webkitdirectory', '');
          }}
          type="file"
          hidden
          aria-label="Folder to copy into the shared folder"
          data-testid="upload-folder"
          onChange={(event) => {
            const files = [...(event.target.files ?? [])];
            event.target.value = '';
            if (files.length > 0) void session.copyIn(sourcesFromFiles(files));
          }}
        />
      </div>

      {copy && (
        <div className="files-progress" role="status">
          <label htmlFor="files-progress-bar">
            Copying {copy.current || '…'}: {formatBytes(copy.doneBytes)} of {formatBytes(copy.totalBytes)}
            {copy.totalFiles > 1 ? ` (${copy.doneFiles} of ${copy.totalFiles} files)` : ''}
          </label>
          <progress id="files-progress-bar" max={Math.max(1, copy.totalBytes)} value={copy.doneBytes} />
          <button type="button" className="button small" onClick={() => session.cancelCopy()}>
            Cancel
          </button>
        </div>
      )}
      {view.preparing !== null && (
        <p className="vm-meta" role="status">
          Preparing {view.preparing.fileName}: {formatBytes(view.preparing.doneBytes)} read…
        </p>
      )}
      {host.message !== null && (
        <p className="vm-meta files-notice" role="status" data-testid="host-folder-message">
          {host.message}
        </p>
      )}
      {view.error !== null && (
        <div className="banner error" role="alert" data-testid="files-error">
          <p>{view.error}</p>
          <button type="button" className="button" onClick={() => session.dismiss()}>
            Dismiss
          </button>
        </div>
      )}
      {view.notice !== null && view.error === null && (
        <p className="vm-meta files-notice" role="status" data-testid="files-notice">
          {view.notice}
        </p>
      )}

      {open && (
        <div id="files-body" className="files-body">
          <div className="files-bar">
            <nav aria-label="Folder path" className="files-crumbs">
              {crumbs.map((name, depth) => (
                <span key={depth}>
                  {depth > 0 && <span aria-hidden="true"> / </span>}
                  {depth === crumbs.length - 1 ? (
                    <span aria-current="location">{name}</span>
                  ) : (
                    <button type="button" className="link" onClick={() => void session.goTo(depth)}>
                      {name}
                    </button>
                  )}
                </span>
              ))}
            </nav>
            <button
              type="button"
              className="button small"
              onClick={() => {
                setNewName('');
                setCreating(true);
              }}
            >
              New folder
            </button>
          </div>
          {view.entries === null ? (
            <p className="hint">Reading the shared folder…</p>
          ) : view.entries.length === 0 ? (
            <p className="hint">
              {view.dir.length === 0
                ? `Empty. Upload files, or drop them here or on the console: they are in ${where} in the guest, and what the guest writes there shows up here.`
                : 'This folder is empty.'}
            </p>
          ) : (
            <div className="files-scroll">
              <table className="files-table" aria-label={`Files in ${where}`}>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col" className="files-size">
                      Size
                    </th>
                    <th scope="col">Modified</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {view.entries.map((entry) => (
                    <tr key={entry.name} data-testid={`file-${entry.name}`}>
                      <td className="files-name">
                        {entry.kind === 'directory' ? (
                          <button
                            type="button"
                            className="link"
                            title={entry.name}
                            aria-label={`Open folder ${entry.name}`}
                            onClick={() => void session.open(entry.name)}
                          >
                            {entry.name}/
                          </button>
                        ) : (
                          <span title={entry.name}>{entry.name}</span>
                        )}
                      </td>
                      <td className="files-size vm-meta">
                        {entry.kind === 'file' ? formatBytes(entry.size) : entry.kind === 'symlink' ? 'link' : ''}
                      </td>
                      <td className="vm-meta">{MODIFIED_FORMAT.format(entry.modifiedMs)}</td>
                      <td className="files-actions">
                        {entry.kind !== 'symlink' && (
                          <FileAction
                            action="Download"
                            of={entry.name}
                            title={entry.kind === 'directory' ? `As ${entry.name}.zip` : undefined}
                            disabled={view.preparing !== null}
                            onClick={() => void download(entry)}
                          />
                        )}
                        <FileAction
                          action="Rename"
                          of={entry.name}
                          onClick={() => {
                            setNewName(entry.name);
                            setRenaming(entry);
                          }}
                        />
                        <FileAction action="Delete" of={entry.name} danger onClick={() => setDeleting(entry)} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}

      <HostFolderChooser open={choosing} hostFolder={hostFolder} onClose={() => setChoosing(false)} />

      <Dialog
        open={view.clash !== null}
        title={`“${view.clash?.name ?? ''}” is already here`}
        labelledBy="files-clash-title"
        onClose={() => {
          // Escape stops the copy; the dialog closing after an answer does not.
          if (session.getView().clash !== null) session.cancelCopy();
        }}
      >
        <p>
          {view.clash?.existing === 'directory' ? 'A folder' : 'A file'} with this name is already in {where}.{' '}
          <strong>Replace</strong> removes it{view.clash?.existing === 'directory' ? ' with everything in it' : ''} once
          the copy is complete; <strong>Keep both</strong> gives the new{' '}
          {view.clash?.kind === 'directory' ? 'folder' : 'file'} a numbered name.
        </p>
        <label className="toggle">
          <input type="checkbox" checked={forAll} onChange={(e) => setForAll(e.target.checked)} />
          Do the same for the other names already here
        </label>
        <div className="dialog-actions">
          <button type="button" className="button" onClick={() => session.cancelCopy()}>
            Stop copying
          </button>
          <button type="button" className="button" onClick={() => answer('skip')}>
            Skip
          </button>
          <button type="button" className="button primary" autoFocus onClick={() => answer('keep-both')}>
            Keep both
          </button>
          <button type="button" className="button danger-solid" onClick={() => answer('replace')}>
            Replace
          </button>
        </div>
      </Dialog>

      <Dialog
        open={renaming !== null || creating}
        title={creating ? 'New folder' : `Rename ${renaming?.name ?? ''}`}
        labelledBy="files-name-title"
        onClose={() => {
          setRenaming(null);
          setCreating(false);
        }}
      >
        <form
          onSubmit={(event) => {
            event.preventDefault();
            const entry = renaming;
            setRenaming(null);
            setCreating(false);
            if (entry) void session.rename(entry.name, newName);
            else void session.makeFolder(newName);
          }}
        >
          <div className="field">
            <label htmlFor="files-name-input">{creating ? 'Folder name' : 'New name'}</label>
            <input id="files-name-input" value={newName} autoFocus onChange={(e) => setNewName(e.target.value)} />
          </div>
          <div className="dialog-actions">
            <button
              type="button"
              className="button"
              onClick={() => {
                setRenaming(null);
                setCreating(false);
              }}
            >
              Cancel
            </button>
            <button type="submit" className="button primary" disabled={newName.trim() === ''}>
              {creating ? 'Create' : 'Rename'}
            </button>
          </div>
        </form>
      </Dialog>

      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ''}?`}
        labelledBy="files-delete-title"
        confirmLabel="Delete"
        onCancel={() => setDeleting(null)}
        onConfirm={() => {
          const entry = deleting;
          setDeleting(null);
          if (entry) void session.remove(entry.name);
        }}
      >
        {deleting?.kind === 'directory' ? 'The folder and everything in it are' : 'The file is'} removed from the shared
        folder, for the guest too. A snapshot does not bring {deleting?.kind === 'directory' ? 'them' : 'it'} back. This
        cannot be undone.
      </ConfirmDialog>
    </section>
  );
}

/**
 * Makes an element a drop target for files and folders from the desktop: they are copied into the
 * session's folder (no session: not a drop target). `over` is true while something is dragged over it.
 */
export function useFileDrop(session: FilesSession | null): {
  over: boolean;
  handlers: {
    onDragOver: (event: DragEvent) => void;
    onDragLeave: (event: DragEvent) => void;
    onDrop: (event: DragEvent) => void;
  };
} {
  const [over, setOver] = useState(false);
  const onDragOver = useCallback(
    (event: DragEvent) => {
      if (!session || !event.dataTransfer.types.includes('Files')) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      setOver(true);
    },
    [session],
  );
  const onDragLeave = useCallback((event: DragEvent) => {
    if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setOver(false);
  }, []);
  const onDrop = useCallback(
    (event: DragEvent) => {
      if (!session || !event.dataTransfer.types.includes('Files')) return;
      event.preventDefault();
      event.stopPropagation();
      setOver(false);
      void session.copyIn(sourcesFromDataTransfer(event.dataTransfer));
    },
    [session],
  );
  return { over, handlers: { onDragOver, onDragLeave, onDrop } };
}

/** One entry's button: its text is the action, its accessible name the action and the entry's name. */
function FileAction(props: {
  action: string;
  of: string;
  title?: string | undefined;
  disabled?: boolean;
  danger?: boolean;
  onClick: () => void;
}) {
  return (
    <button
      type="button"
      className={props.danger ? 'button small danger' : 'button small'}
      disabled={props.disabled}
      aria-label={`${props.action} ${props.of}`}
      title={props.title}
      onClick={props.onClick}
    >
      {props.action}
    </button>
  );
}
