/** The selected VM: its controls, its boot progress or error, its disk, and its console. */
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { Library, VmEntry } from './library.ts';
import { ConfirmDialog } from './Dialog.tsx';
import { formatMiB, formatUptime, stateLabel } from './format.ts';
import { SnapshotPanel } from './SnapshotPanel.tsx';
import { FilesPanel } from './FilesPanel.tsx';
import { PortsPanel } from './PortsPanel.tsx';
import { SettingsDialog } from './SettingsDialog.tsx';
import { ResourcePanel } from './ResourcePanel.tsx';
import type { ResourceHistory } from './resources.ts';
import { filesSessionFor } from './files.ts';
import { hostFolderSettingFor } from './host-folder.ts';
import type { SnapshotShelf } from './snapshots.ts';
import { imageHasDisk } from '../controller/images.ts';

interface Props {
  readonly entry: VmEntry;
  readonly library: Library;
  readonly resources: ResourceHistory;
  readonly onDelete: () => void;
  readonly onStarted: () => void;
  readonly shelf: SnapshotShelf;
  readonly onSelectVm: (id: string) => void;
}

export function VmPane({ entry, library, resources, onDelete, onStarted, shelf, onSelectVm }: Props) {
  const { controller, definition } = entry;
  const view = useSyncExternalStore(controller.subscribe, controller.getView);
  // "Rebooting" is a label that times out; re-render once it has.
  const [, tick] = useState(0);
  useEffect(() => {
    if (view.rebootedAt === undefined) return;
    const timer = setTimeout(() => tick((n) => n + 1), 4100);
    return () => clearTimeout(timer);
  }, [view.rebootedAt]);
  const phase = view.phase;
  // Another tab runs this VM (it holds the VM's lock): it cannot start here until that tab lets it go.
  const elsewhere = useSyncExternalStore(shelf.locks.subscribe, shelf.locks.getSnapshot).elsewhere.has(definition.id);
  const move = useSyncExternalStore(shelf.subscribe, shelf.getSnapshot).moves.get(definition.id);
  const state =
    elsewhere && (phase === 'stopped' || phase === 'error')
      ? { text: 'Running in another tab', tone: 'busy' }
      : stateLabel(view);
  const start = () => {
    onStarted();
    void shelf.start(entry);
  };
  const hasDisk = view.disk !== undefined || imageHasDisk(definition.image);
  const [confirmReset, setConfirmReset] = useState(false);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [resetError, setResetError] = useState<string | null>(null);
  const resetDisk = async () => {
    setConfirmReset(false);
    setResetError(null);
    // The overlay may only be dropped while no worker writes to it.
    if (phase !== 'stopped' && phase !== 'error') controller.powerOff();
    try {
      await controller.resetDisk();
    } catch (error) {
      setResetError(`The disk could not be reset: ${(error as Error).message}`);
    }
  };

  return (
    <section
      className="vm-pane"
      aria-labelledby="vm-pane-title"
      data-testid={`pane-${definition.name}`}
      data-phase={phase}
    >
      <header className="vm-toolbar">
        <div className="vm-title">
          <h2 id="vm-pane-title">{definition.name}</h2>
          <span className={`badge tone-${state.tone}`} data-testid="vm-state" aria-live="polite">
            {state.text}
          </span>
          <span className="vm-meta">
            {definition.image} · {definition.ramMiB} MiB · <CpuCount cpus={definition.cpus ?? 1} />
            {definition.network === false ? ' · no network' : ''}
            {(phase === 'running' || phase === 'paused') && (
              <>
                {' '}
                ·{' '}
                <span
                  data-testid="uptime"
                  data-ms={Math.floor(view.uptimeMs)}
                  title="Time since the VM was powered on, pauses excluded (the guest's clock: after a restore it continues from the snapshot's)"
                >
                  up {formatUptime(view.uptimeMs)}
                </span>{' '}
                · {view.mips.toFixed(1)} MIPS
              </>
            )}
            {view.disk && (
              <span data-testid="disk-downloaded">
                {' '}
                · disk {formatMiB(view.disk.downloadedBytes)} of {formatMiB(view.disk.totalBytes)} downloaded
              </span>
            )}
          </span>
        </div>
        <div className="vm-actions" role="toolbar" aria-label={`Controls for ${definition.name}`}>
          {phase === 'stopped' && (
            <button
              type="button"
              className="button primary"
              onClick={start}
              disabled={elsewhere}
              title={elsewhere ? 'Running in another tab' : undefined}
            >
              Start
            </button>
          )}
          {phase === 'running' && (
            <button type="button" className="button" onClick={() => void controller.pause()}>
              Pause
            </button>
          )}
          {phase === 'paused' && (
            <button type="button" className="button primary" onClick={() => void controller.resume()}>
              Resume
            </button>
          )}
          <button
            type="button"
            className="button"
            onClick={() => void controller.reset()}
            disabled={phase !== 'running' && phase !== 'paused'}
          >
            Reset
          </button>
          <button
            type="button"
            className="button"
            onClick={() => controller.powerOff()}
            disabled={phase !== 'running' && phase !== 'paused' && phase !== 'starting'}
          >
            Power off
          </button>
          {hasDisk && (
            <button
              type="button"
              className="button"
              onClick={() => setConfirmReset(true)}
              disabled={phase === 'downloading' || phase === 'starting' || elsewhere}
            >
              Reset disk
            </button>
          )}
          <button type="button" className="button" onClick={() => setSettingsOpen(true)}>
            Settings…
          </button>
          <button
            type="button"
            className="button danger"
            onClick={onDelete}
            disabled={elsewhere}
            title={elsewhere ? 'Running in another tab' : undefined}
          >
            Delete
          </button>
        </div>
      </header>

      {phase === 'downloading' && view.progress && (
        <div className="banner" role="status">
          <label htmlFor={`progress-${definition.id}`}>
            {view.progress.cached ? 'Reading the image from the cache' : 'Downloading the image'}:{' '}
            {formatMiB(view.progress.loaded)} of {view.progress.total > 0 ? formatMiB(view.progress.total) : '…'}
          </label>
          <progress
            id={`progress-${definition.id}`}
            max={Math.max(1, view.progress.total)}
            value={view.progress.loaded}
            data-testid="download-progress"
          />
        </div>
      )}
      {(view.disk?.error !== undefined || view.disk?.saveError !== undefined || resetError !== null) && (
        <div className="banner error" role="alert" data-testid="disk-error">
          <div>
            <strong>Disk trouble.</strong>
            {view.disk?.error !== undefined && (
              <p>Reading the disk failed; the guest saw an I/O error: {view.disk.error}</p>
            )}
            {view.disk?.saveError !== undefined && <p>{view.disk.saveError}</p>}
            {resetError !== null && <p>{resetError}</p>}
          </div>
        </div>
      )}
      {phase === 'starting' && (
        <div className="banner" role="status">
          Starting the VM…
        </div>
      )}
      {phase === 'error' && view.error && (
        <div className="banner error" role="alert" data-testid="vm-error">
          <div>
            <strong>
              {view.error.kind === 'download'
                ? 'The image could not be downloaded.'
                : view.error.kind === 'panic'
                  ? 'The guest crashed: its kernel panicked.'
                  : 'This VM stopped with an error.'}
            </strong>
            <p>{view.error.message}</p>
          </div>
          <button
            type="button"
            className="button primary"
            disabled={elsewhere}
            onClick={() => void shelf.start(entry, true)}
          >
            {view.error.kind === 'download' ? 'Retry' : 'Restart'}
          </button>
        </div>
      )}
      {elsewhere && (phase === 'stopped' || phase === 'error') && (
        <div className="banner" role="status" data-testid="elsewhere">
          <span>
            Running in another tab. A VM runs in one tab at a time: <strong>Move here</strong> brings it to this tab as
            it runs, without a restart.
          </span>
          <button
            type="button"
            className="button primary"
            disabled={move?.moving}
            onClick={() => {
              onStarted();
              void shelf.moveHere(entry);
            }}
          >
            {move?.moving ? 'Moving…' : 'Move here'}
          </button>
        </div>
      )}
      {move?.report && (phase === 'running' || phase === 'paused') && (
        <div
          className="banner muted"
          role="status"
          data-testid="moved-here"
          data-pause-ms={Math.round(move.report.pauseMs)}
          data-total-ms={Math.round(move.report.totalMs)}
          data-bytes={move.report.bytes}
          data-rounds={move.report.rounds}
        >
          Moved here from another tab: the guest stood still for {Math.round(move.report.pauseMs)} ms;{' '}
          {move.report.rounds} rounds, {formatMiB(move.report.bytes)} in {(move.report.totalMs / 1000).toFixed(1)} s.
        </div>
      )}
      {phase === 'stopped' && !elsewhere && (
        <div className="banner muted" role="status">
          <span>
            {view.lastHalt ?? 'This VM is stopped.'} Press <strong>Start</strong> to boot it.
          </span>
        </div>
      )}
      {phase === 'paused' && (
        <div className="banner muted" role="status">
          Paused: guest time stands still and typed keys wait until you resume.
        </div>
      )}
      <ResourcePanel entry={entry} history={resources} />
      <SnapshotPanel entry={entry} shelf={shelf} onSelectVm={onSelectVm} />
      <FilesPanel
        session={filesSessionFor(definition.id)}
        hostFolder={hostFolderSettingFor(definition.id)}
        vmName={definition.name}
      />
      <PortsPanel entry={entry} />
      <SettingsDialog open={settingsOpen} entry={entry} library={library} onClose={() => setSettingsOpen(false)} />
      <ConfirmDialog
        open={confirmReset}
        title={`Reset the disk of ${definition.name}?`}
        labelledBy="reset-disk-title"
        confirmLabel="Reset disk"
        onCancel={() => setConfirmReset(false)}
        onConfirm={() => void resetDisk()}
      >
        Everything this VM wrote to its disk — files, installed packages, settings — is discarded, and its next start
        sees the image’s disk as it was built.
        {phase !== 'stopped' && phase !== 'error' ? ' The VM is powered off first.' : ''} This cannot be undone.
      </ConfirmDialog>
    </section>
  );
}

/** The VM's CPUs; without cross-origin isolation (no shared memory for harts in several workers) it runs one. */
function CpuCount({ cpus }: { readonly cpus: number }) {
  const runs = globalThis.crossOriginIsolated ? cpus : 1;
  return (
    <span
      data-testid="cpus"
      data-cpus={runs}
      title={
        runs < cpus
          ? `Asked for ${cpus} CPUs; this page is not cross-origin isolated, so the VM runs on one.`
          : undefined
      }
    >
      {runs === 1 ? '1 CPU' : `${runs} CPUs`}
      {runs < cpus ? ' (compatibility mode)' : ''}
    </span>
  );
}
