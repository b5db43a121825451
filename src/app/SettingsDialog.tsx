/**
 * A VM's Settings…: its name at any time; RAM, CPUs and the network card while it is powered off (a
 * running machine keeps what it started with); what /mnt/shared is, with the Files panel's actions for it
 * (host-folder.ts). The fields are checked as the New VM dialog checks them (vm-fields.ts).
 */
import { useEffect, useState, useSyncExternalStore, type FormEvent } from 'react';
import { Dialog } from './Dialog.tsx';
import type { Library, VmEntry } from './library.ts';
import { CUSTOM_MEMORY, vmFieldProblems } from './vm-fields.ts';
import { catalogEntry, loadManifest } from '../controller/images.ts';
import { MachineFields } from './MachineFields.tsx';
import { hostFolderSettingFor } from './host-folder.ts';
import { HostFolderChooser } from './HostFolderChooser.tsx';
import { GUEST_MOUNT } from './files.ts';

interface Props {
  readonly open: boolean;
  readonly entry: VmEntry;
  readonly library: Library;
  readonly onClose: () => void;
}

export function SettingsDialog({ open, entry, library, onClose }: Props) {
  const { definition, controller } = entry;
  const [name, setName] = useState('');
  const [ram, setRam] = useState('');
  const [cpus, setCpus] = useState('');
  const [network, setNetwork] = useState(true);
  const [minRam, setMinRam] = useState(16);
  const [submitted, setSubmitted] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [choosing, setChoosing] = useState(false);
  const hostFolder = hostFolderSettingFor(definition.id);
  const host = useSyncExternalStore(hostFolder.subscribe, hostFolder.getView);

  useEffect(() => {
    if (!open) return;
    setName(definition.name);
    setRam(String(definition.ramMiB));
    setCpus(String(definition.cpus ?? 1));
    setNetwork(definition.network !== false);
    setSubmitted(false);
    setFailure(null);
    // The image's least RAM; its manifest was read when the VM was made, so this comes from the cache.
    const catalog = catalogEntry(definition.image);
    if (!catalog) {
      setMinRam(CUSTOM_MEMORY.minimum);
      return;
    }
    let cancelled = false;
    loadManifest(catalog).then(
      (manifest) => !cancelled && setMinRam(manifest.memory.minimum),
      () => {},
    );
    return () => {
      cancelled = true;
    };
  }, [open, definition]);

  const phase = useSyncExternalStore(controller.subscribe, controller.getView).phase;
  const off = phase === 'stopped' || phase === 'error';
  const problems = vmFieldProblems(
    { name, ram, cpus },
    { isNameTaken: (n) => library.isNameTaken(n, definition.id), minRamMiB: minRam },
  );

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (problems.name || problems.ram || problems.cpus || busy) return;
    setBusy(true);
    try {
      await library.update(definition.id, { name, ramMiB: Number(ram), cpus: Number(cpus), network });
      onClose();
    } catch (error) {
      setFailure((error as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const offHint = off ? undefined : 'Power the VM off to change this: a running machine keeps what it started with.';

  return (
    <>
      <Dialog open={open} title={`Settings of ${definition.name}`} onClose={onClose} labelledBy="settings-title">
        <form onSubmit={(e) => void submit(e)} noValidate data-testid="settings">
          <div className="field">
            <label htmlFor="settings-name">Name</label>
            <input
              id="settings-name"
              autoFocus
              value={name}
              onChange={(e) => setName(e.target.value)}
              aria-invalid={submitted && problems.name !== null}
              aria-describedby="settings-name-error"
              maxLength={64}
              autoComplete="off"
              spellCheck={false}
            />
            <p id="settings-name-error" className="field-error" role={submitted && problems.name ? 'alert' : undefined}>
              {submitted ? problems.name : ''}
            </p>
          </div>
          <MachineFields
            idPrefix="settings"
            ram={ram}
            onRam={setRam}
            minRam={minRam}
            ramError={problems.ram}
            cpus={cpus}
            onCpus={setCpus}
            cpuError={problems.cpus}
            submitted={submitted}
            lockedHint={offHint}
          />
          <div className="field">
            <label className="toggle">
              <input
                type="checkbox"
                checked={network}
                disabled={!off}
                onChange={(e) => setNetwork(e.target.checked)}
                aria-describedby="settings-network-hint"
                data-testid="settings-network"
              />
              Network card
            </label>
            <p id="settings-network-hint" className="field-hint" data-testid="settings-network-hint">
              {offHint ??
                'Web pages over http:// through the browser. A VM started from a snapshot keeps the snapshot’s card.'}
            </p>
          </div>
          <fieldset className="field settings-folder" data-testid="settings-shared-folder">
            <legend>Shared folder</legend>
            <p className="field-hint" data-testid="settings-shared-folder-what">
              {GUEST_MOUNT} is{' '}
              {host.folder
                ? `a folder from this computer, “${host.folder.name}” (${host.folder.readOnly ? 'read-only' : 'read and write'})`
                : host.folder === null
                  ? 'the VM’s own folder, kept in this browser'
                  : '…'}
            </p>
            {host.folder ? (
              <button type="button" className="button small" onClick={() => void hostFolder.stop()}>
                Stop sharing
              </button>
            ) : (
              host.supported && (
                <button type="button" className="button small" onClick={() => setChoosing(true)}>
                  Share a folder from this computer…
                </button>
              )
            )}
            {host.message && (
              <p className="field-hint" role="status">
                {host.message}
              </p>
            )}
          </fieldset>
          <div className="dialog-actions">
            {failure && (
              <p className="field-error" role="alert">
                {failure}
              </p>
            )}
            <button type="button" className="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="button primary" disabled={busy}>
              Save
            </button>
          </div>
        </form>
      </Dialog>
      <HostFolderChooser open={choosing} hostFolder={hostFolder} onClose={() => setChoosing(false)} />
    </>
  );
}
