/** New VM: a unique non-empty name, an image from the catalog, RAM within the image's bounds. */
import { useEffect, useState, type FormEvent } from 'react';
import { Dialog } from './Dialog.tsx';
import { IMAGE_CATALOG, loadManifest, MAX_RAM_MIB, type ImageManifest } from '../controller/images.ts';

interface Props {
  readonly open: boolean;
  readonly onClose: () => void;
  readonly isNameTaken: (name: string) => boolean;
  readonly onCreate: (fields: { name: string; image: string; ramMiB: number }) => Promise<void>;
  readonly suggestedName: string;
}

export function NewVmDialog({ open, onClose, isNameTaken, onCreate, suggestedName }: Props) {
  const [name, setName] = useState('');
  const [image, setImage] = useState(IMAGE_CATALOG[0]!.id);
  const [ram, setRam] = useState('');
  const [manifest, setManifest] = useState<ImageManifest | null>(null);
  const [manifestError, setManifestError] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!open) return;
    setName(suggestedName);
    setSubmitted(false);
    setBusy(false);
  }, [open, suggestedName]);

  useEffect(() => {
    if (!open) return;
    let cancelled = false;
    setManifest(null);
    setManifestError(null);
    const entry = IMAGE_CATALOG.find((e) => e.id === image)!;
    loadManifest(entry).then(
      (m) => {
        if (cancelled) return;
        setManifest(m);
        setRam(String(m.memory.default));
      },
      (error: Error) => !cancelled && setManifestError(error.message),
    );
    return () => {
      cancelled = true;
    };
  }, [open, image]);

  const trimmed = name.trim();
  const nameError = trimmed === '' ? 'Give the VM a name.' : isNameTaken(trimmed) ? `A VM named “${trimmed}” already exists.` : null;
  const minRam = manifest?.memory.minimum ?? 16;
  const ramValue = Number(ram);
  const ramError =
    ram.trim() === '' || !Number.isInteger(ramValue)
      ? 'RAM is a whole number of MiB.'
      : ramValue < minRam
        ? `This image needs at least ${minRam} MiB.`
        : ramValue > MAX_RAM_MIB
          ? `At most ${MAX_RAM_MIB} MiB.`
          : null;
  const valid = !nameError && !ramError && manifest !== null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!valid || busy) return;
    setBusy(true);
    try {
      await onCreate({ name: trimmed, image, ramMiB: ramValue });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} title="New virtual machine" onClose={onClose} labelledBy="new-vm-title">
      <form onSubmit={(e) => void submit(e)} noValidate>
        <div className="field">
          <label htmlFor="vm-name">Name</label>
          <input
            id="vm-name"
            autoFocus
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={submitted && nameError !== null}
            aria-describedby="vm-name-error"
            maxLength={64}
            autoComplete="off"
            spellCheck={false}
          />
          <p id="vm-name-error" className="field-error" role={submitted && nameError ? 'alert' : undefined}>
            {submitted ? nameError : ''}
          </p>
        </div>
        <div className="field">
          <label htmlFor="vm-image">Image</label>
          <select id="vm-image" value={image} onChange={(e) => setImage(e.target.value)}>
            {IMAGE_CATALOG.map((entry) => (
              <option key={entry.id} value={entry.id}>
                {manifest && entry.id === image ? manifest.title : entry.id}
              </option>
            ))}
          </select>
          <p className="field-hint">
            {manifestError
              ? <span className="field-error">{manifestError}</span>
              : manifest
                ? `Linux ${manifest.kernelRelease ?? ''} · OpenSBI · busybox shell`
                : 'Reading the image catalog…'}
          </p>
        </div>
        <div className="field">
          <label htmlFor="vm-ram">Memory (MiB)</label>
          <input
            id="vm-ram"
            type="number"
            inputMode="numeric"
            min={minRam}
            max={MAX_RAM_MIB}
            step={1}
            value={ram}
            onChange={(e) => setRam(e.target.value)}
            aria-invalid={submitted && ramError !== null}
            aria-describedby="vm-ram-error"
          />
          <p id="vm-ram-error" className={submitted && ramError ? 'field-error' : 'field-hint'}>
            {submitted && ramError ? ramError : `${minRam}–${MAX_RAM_MIB} MiB`}
          </p>
        </div>
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy || manifest === null}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}
