/**
 * "Share a folder from this computer…": read-only or read and write, then the browser's folder picker.
 * The Files panel and Settings… both offer it; the setting is host-folder.ts.
 */
import { useState } from 'react';
import { Dialog } from './Dialog.tsx';
import { GUEST_MOUNT } from './files.ts';
import type { HostFolderSetting } from './host-folder.ts';

interface Props {
  readonly open: boolean;
  readonly hostFolder: HostFolderSetting;
  readonly onClose: () => void;
}

export function HostFolderChooser({ open, hostFolder, onClose }: Props) {
  const [readOnly, setReadOnly] = useState(true);
  return (
    <Dialog open={open} title="Share a folder from this computer" labelledBy="host-folder-title" onClose={onClose}>
      <p>
        The guest sees the folder you choose at {GUEST_MOUNT} in place of this VM’s own shared folder, from the VM’s
        next start. The browser asks for your permission; after a reload it may ask again.
      </p>
      <fieldset className="field">
        <legend>The guest may</legend>
        <label className="toggle">
          <input type="radio" name="host-folder-mode" checked={readOnly} onChange={() => setReadOnly(true)} />
          Read only (writes fail with “Read-only file system”)
        </label>
        <label className="toggle">
          <input type="radio" name="host-folder-mode" checked={!readOnly} onChange={() => setReadOnly(false)} />
          Read and write
        </label>
      </fieldset>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="button primary"
          onClick={() => {
            onClose();
            // The picker must open within the click.
            void hostFolder.share(readOnly);
          }}
        >
          Choose folder…
        </button>
      </div>
    </Dialog>
  );
}
