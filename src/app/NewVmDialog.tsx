/**
 * New VM: a unique non-empty name, an image, RAM within the image's bounds. The images are the catalog's
 * that this server has (one that is not built is listed, disabled, with the command that builds it) and
 * the user's own disk image with an optional kernel and initrd.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Dialog } from './Dialog.tsx';
import {
  CUSTOM_IMAGE_ID,
  IMAGE_CATALOG,
  ImageNotBuiltError,
  loadManifest,
  type ImageManifest,
} from '../controller/images.ts';
import { customImageProblems, type CustomImageFiles } from '../controller/custom-image.ts';
import { MachineFields } from './MachineFields.tsx';
import { CUSTOM_MEMORY, vmFieldProblems } from './vm-fields.ts';

/** What fits this machine: two CPUs where the host has at least four cores to share, else one. */
export function defaultCpus(hardwareConcurrency: number | undefined): number {
  return (hardwareConcurrency ?? 1) >= 4 ? 2 : 1;
}

export interface NewVmFields {
  readonly name: string;
  readonly image: string;
  readonly ramMiB: number;
  /** CPUs (harts), 1 to MAX_CPUS (workers/protocol/machine-limits.ts). */
  readonly cpus: number;
  /** A network card on the browser's network (docs/networking.md). */
  readonly network: boolean;
  /** Only for CUSTOM_IMAGE_ID. */
  readonly custom?: CustomImageFiles<File>;
}

interface Props {
  readonly open: boolean;
  readonly onClose: () => void;
  readonly isNameTaken: (name: string) => boolean;
  readonly onCreate: (fields: NewVmFields) => Promise<void>;
  readonly suggestedName: string;
}

/** What reading an image's manifest gave. */
type Probe = { readonly manifest: ImageManifest } | { readonly notBuilt: string } | { readonly error: string };

function imageSummary(manifest: ImageManifest): string {
  const system = manifest.name === 'default' ? 'busybox shell' : 'disk downloaded as the guest reads it';
  return `Linux ${manifest.kernelRelease ?? ''} · OpenSBI · ${system}`;
}

async function storageFree(): Promise<number | undefined> {
  try {
    const estimate = await navigator.storage?.estimate();
    return estimate?.quota !== undefined && estimate.usage !== undefined ? estimate.quota - estimate.usage : undefined;
  } catch {
    return undefined;
  }
}

export function NewVmDialog({ open, onClose, isNameTaken, onCreate, suggestedName }: Props) {
  const [name, setName] = useState('');
  const [image, setImage] = useState(IMAGE_CATALOG[0]!.id);
  const [ram, setRam] = useState('');
  const [cpus, setCpus] = useState(() => String(defaultCpus(navigator.hardwareConcurrency)));
  const [network, setNetwork] = useState(true);
  const [probes, setProbes] = useState<Record<string, Probe>>({});
  const [disk, setDisk] = useState<File | null>(null);
  const [kernel, setKernel] = useState<File | null>(null);
  const [initrd, setInitrd] = useState<File | null>(null);
  const [fileProblems, setFileProblems] = useState<string[] | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);

  // The image whose RAM the person typed: its manifest arriving later must not overwrite what they typed.
  const ramTypedFor = useRef<string | null>(null);

  useEffect(() => {
    if (!open) return;
    ramTypedFor.current = null;
    setName(suggestedName);
    setCpus(String(defaultCpus(navigator.hardwareConcurrency)));
    setSubmitted(false);
    setBusy(false);
  }, [open, suggestedName]);

  // Read every catalog manifest when the dialog opens: the list shows which images this server has.
  useEffect(() => {
    if (!open) return;
    let cancelled = false;
    setProbes({});
    for (const entry of IMAGE_CATALOG) {
      loadManifest(entry).then(
        (manifest) => !cancelled && setProbes((p) => ({ ...p, [entry.id]: { manifest } })),
        (error: Error) =>
          !cancelled &&
          setProbes((p) => ({
            ...p,
            [entry.id]: error instanceof ImageNotBuiltError ? { notBuilt: error.message } : { error: error.message },
          })),
      );
    }
    return () => {
      cancelled = true;
    };
  }, [open]);

  const custom = image === CUSTOM_IMAGE_ID;
  const probe = custom ? undefined : probes[image];
  const manifest = probe && 'manifest' in probe ? probe.manifest : null;
  const memory = custom ? CUSTOM_MEMORY : manifest?.memory;

  // The default RAM follows the chosen image.
  const defaultRam = memory?.default;
  useEffect(() => {
    if (defaultRam !== undefined && ramTypedFor.current !== image) setRam(String(defaultRam));
  }, [image, defaultRam]);

  const trimmed = name.trim();
  const minRam = memory?.minimum ?? 16;
  const ramValue = Number(ram);
  const cpuValue = Number(cpus);
  const {
    name: nameError,
    ram: ramError,
    cpus: cpuError,
  } = vmFieldProblems({ name, ram, cpus }, { isNameTaken, minRamMiB: minRam });

  // The user's files are checked whenever they or the RAM change.
  useEffect(() => {
    if (!custom || !disk) {
      setFileProblems(null);
      return;
    }
    let cancelled = false;
    const files: CustomImageFiles<File> = { disk, ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}) };
    void storageFree()
      .then((free) => customImageProblems(files, Number.isInteger(ramValue) ? ramValue : 0, free))
      .then((problems) => !cancelled && setFileProblems(problems));
    return () => {
      cancelled = true;
    };
  }, [custom, disk, kernel, initrd, ramValue]);

  const customReady = custom && disk !== null && fileProblems !== null && fileProblems.length === 0;
  const valid = !nameError && !ramError && !cpuError && (custom ? customReady : manifest !== null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!valid || busy) return;
    setBusy(true);
    try {
      await onCreate({
        name: trimmed,
        image,
        ramMiB: ramValue,
        cpus: cpuValue,
        network,
        ...(custom && disk ? { custom: { disk, ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}) } } : {}),
      });
    } finally {
      setBusy(false);
    }
  };

  const notBuilt = IMAGE_CATALOG.filter((entry) => {
    const p = probes[entry.id];
    return p !== undefined && 'notBuilt' in p;
  });

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
          <select
            id="vm-image"
            value={image}
            onChange={(e) => setImage(e.target.value)}
            aria-describedby="vm-image-hint vm-image-missing"
          >
            {IMAGE_CATALOG.map((entry) => {
              const p = probes[entry.id];
              const missing = p !== undefined && 'notBuilt' in p;
              return (
                <option key={entry.id} value={entry.id} disabled={missing}>
                  {p && 'manifest' in p ? p.manifest.title : entry.title}
                  {missing ? ' — not built' : ''}
                </option>
              );
            })}
            <option value={CUSTOM_IMAGE_ID}>Your own disk image…</option>
          </select>
          <p id="vm-image-hint" className="field-hint">
            {custom ? (
              'A raw disk image from your computer, booted with its own kernel or tabvm’s Linux and OpenSBI.'
            ) : probe && 'error' in probe ? (
              <span className="field-error">{probe.error}</span>
            ) : probe && 'notBuilt' in probe ? (
              <span className="field-error">{probe.notBuilt}</span>
            ) : manifest ? (
              imageSummary(manifest)
            ) : (
              'Reading the image catalog…'
            )}
          </p>
          {notBuilt.length > 0 && (
            <p id="vm-image-missing" className="field-hint" data-testid="image-not-built">
              {notBuilt.map((entry) => (
                <span key={entry.id}>
                  {entry.title} is not built on this server: run <code>{entry.buildCommand}</code> in the tabvm
                  checkout, then reload this page.{' '}
                </span>
              ))}
            </p>
          )}
        </div>
        {custom && (
          <fieldset className="field custom-files">
            <legend>Your files</legend>
            <label htmlFor="vm-disk">Disk image (raw)</label>
            <input
              id="vm-disk"
              type="file"
              onChange={(e) => setDisk(e.target.files?.[0] ?? null)}
              aria-describedby="vm-files-error"
            />
            <label htmlFor="vm-kernel">Kernel (optional: tabvm’s Linux otherwise)</label>
            <input id="vm-kernel" type="file" onChange={(e) => setKernel(e.target.files?.[0] ?? null)} />
            <label htmlFor="vm-initrd">Initrd (optional)</label>
            <input id="vm-initrd" type="file" onChange={(e) => setInitrd(e.target.files?.[0] ?? null)} />
            <div
              id="vm-files-error"
              data-testid="custom-file-problems"
              role={fileProblems?.length ? 'alert' : undefined}
            >
              {fileProblems?.map((problem) => (
                <p key={problem} className="field-error">
                  {problem}
                </p>
              ))}
              {submitted && !disk && <p className="field-error">Choose a disk image.</p>}
            </div>
          </fieldset>
        )}
        <MachineFields
          idPrefix="vm"
          ram={ram}
          onRam={(value) => {
            ramTypedFor.current = image;
            setRam(value);
          }}
          minRam={minRam}
          ramError={ramError}
          cpus={cpus}
          onCpus={setCpus}
          cpuError={cpuError}
          submitted={submitted}
        />
        <div className="field">
          <label className="toggle">
            <input type="checkbox" checked={network} onChange={(e) => setNetwork(e.target.checked)} />
            Network
          </label>
          <p className="field-hint">
            Web pages over http:// through the browser; see the docs for what the guest can reach
          </p>
        </div>
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy || (custom ? false : manifest === null)}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}
