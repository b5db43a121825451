/**
 * VmController: the page's handle on one VM. It lives as long as the VM is in the library; each start
 * spawns a dedicated module Worker (workers/vm.worker.ts), wraps it with Comlink, and owns the console
 * rings and the doorbell it shares with that worker. Powering off, a guest poweroff or deleting the VM
 * terminates the worker, which frees its memory. A worker that throws or stops answering puts this VM
 * alone in the `error` phase; other VMs and the page carry on.
 *
 * The console is an endpoint that outlives workers: output is kept (up to SCROLLBACK_BYTES) and replayed
 * to a terminal that attaches later, so switching between VMs loses nothing.
 */
import * as Comlink from 'comlink';
import { ByteRing, Doorbell } from '../../workers/protocol/ring.ts';
import {
  CONSOLE_INPUT_BYTES,
  CONSOLE_OUTPUT_BYTES,
  type ConsoleChannels,
  type VmEvents,
  type VmHalt,
  type VmStats,
  type VmDiskRequest,
  type VmWorkerApi,
} from '../../workers/protocol/vm-api.ts';
import type { DiskStatus } from '../../workers/protocol/disk-image.ts';
import { customBoot } from './custom-image.ts';
import {
  catalogEntry,
  CUSTOM_IMAGE_ID,
  diskIdentity,
  fetchImage,
  imageDirectoryUrl,
  ImageDownloadError,
  type CatalogEntry,
  type DownloadProgress,
  type ImageFiles,
} from './images.ts';
import { deleteOverlay, loadOverlay, saveOverlayBlocks } from '../storage/disk-overlay.ts';

export type VmPhase = 'stopped' | 'downloading' | 'starting' | 'running' | 'paused' | 'error';

export interface VmError {
  /**
   * download: the image could not be fetched or verified (Retry); crash/hang: the worker failed (Restart);
   * disk: the VM's saved disk cannot be used (Reset disk, then Retry).
   */
  readonly kind: 'download' | 'crash' | 'hang' | 'disk';
  readonly message: string;
}

/** A VM's disk as the UI shows it (images whose manifest has a `disk`). */
export interface VmDiskView {
  /** Compressed bytes of the image's disk downloaded by this run, and what the whole disk would cost. */
  readonly downloadedBytes: number;
  readonly totalBytes: number;
  readonly fetchedChunks: number;
  /** The latest disk read that failed for the guest (an I/O error there), in words for a person. */
  readonly error?: string;
  /** Why the guest's latest writes could not be kept in the browser's storage (e.g. it is full). */
  readonly saveError?: string;
}

export interface VmView {
  readonly phase: VmPhase;
  readonly progress?: DownloadProgress;
  readonly error?: VmError;
  /** Why the VM last stopped, for the stopped state's label. */
  readonly lastHalt?: string;
  readonly uptimeMs: number;
  /** Millions of guest instructions per second over the last stats interval. */
  readonly mips: number;
  readonly idle: boolean;
  readonly reboots: number;
  /** performance.now() of the last guest reboot. */
  readonly rebootedAt?: number;
  /** Whether the console has printed anything yet (the UI shows an empty state until then). */
  readonly hasOutput: boolean;
  /** Present while a VM with a disk runs or after it ran. */
  readonly disk?: VmDiskView;
}

export interface VmControllerOptions {
  /** The VM's id in the library: its disk overlay is stored under it. */
  readonly id: string;
  readonly image: string;
  readonly ramMiB: number;
  /** Shared memory and SAB rings when the page is cross-origin isolated; the message fallback otherwise. */
  readonly shared: boolean;
}

/** The terminal side of a VM's console (src/console's addon joins an xterm to one). */
export interface ConsoleEndpoint {
  /** Keystrokes and pastes for the guest. */
  send(bytes: Uint8Array): void;
  /** Receives everything the guest printed so far, then each new chunk; returns the unsubscribe. */
  subscribe(onOutput: (bytes: Uint8Array) => void): () => void;
}

const SCROLLBACK_BYTES = 1 << 20;
const STATS_INTERVAL_MS = 1000;
/** A worker that has not answered a stats call for this long is hung (its loop yields every ~10 ms). */
const HANG_TIMEOUT_MS = 15_000;

interface Running {
  readonly worker: Worker;
  readonly remote: Comlink.Remote<VmWorkerApi>;
  readonly shared: boolean;
  readonly input?: ByteRing;
  readonly output?: ByteRing;
  readonly doorbell?: Doorbell;
  alive: boolean;
  /** performance.now() when the worker was created, and whether its boot() has returned. */
  readonly createdAt: number;
  booted: boolean;
  lastStats?: { instructions: number; uptimeMs: number };
  statsPendingSince?: number;
  timer?: ReturnType<typeof setInterval>;
}

export class VmController {
  readonly options: VmControllerOptions;
  #view: VmView = { phase: 'stopped', uptimeMs: 0, mips: 0, idle: false, reboots: 0, hasOutput: false };
  readonly #listeners = new Set<() => void>();
  readonly #outputListeners = new Set<(bytes: Uint8Array) => void>();
  #scrollback: Uint8Array[] = [];
  #scrollbackBytes = 0;
  #run: Running | undefined;
  #inputBacklog: Uint8Array[] = [];
  #inputTimer: ReturnType<typeof setTimeout> | undefined;
  #images: ImageFiles | undefined;
  #disposed = false;

  constructor(options: VmControllerOptions) {
    this.options = options;
  }

  // --- observable state (useSyncExternalStore) ---

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getView = (): VmView => this.#view;

  #update(patch: Partial<VmView>): void {
    this.#view = { ...this.#view, ...patch };
    for (const listener of this.#listeners) listener();
  }

  // --- console ---

  readonly console: ConsoleEndpoint = {
    send: (bytes) => this.#send(bytes),
    subscribe: (onOutput) => {
      for (const chunk of this.#scrollback) onOutput(chunk);
      this.#outputListeners.add(onOutput);
      return () => this.#outputListeners.delete(onOutput);
    },
  };

  #emitOutput(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#scrollback.push(bytes);
    this.#scrollbackBytes += bytes.length;
    while (this.#scrollbackBytes > SCROLLBACK_BYTES && this.#scrollback.length > 1) {
      this.#scrollbackBytes -= this.#scrollback.shift()!.length;
    }
    for (const listener of this.#outputListeners) listener(bytes);
    if (!this.#view.hasOutput) this.#update({ hasOutput: true });
  }

  /** A line from the host, not the guest (download progress, halts), in the console's own voice. */
  #note(text: string): void {
    this.#emitOutput(new TextEncoder().encode(`\r\n\x1b[2m[tabvm] ${text}\x1b[0m\r\n`));
  }

  #send(bytes: Uint8Array): void {
    const run = this.#run;
    if (!run?.alive) return;
    this.#inputBacklog.push(bytes);
    this.#flushInput();
  }

  /** Moves typed bytes to the guest; what the input ring cannot take now is retried shortly, in order. */
  #flushInput(): void {
    const run = this.#run;
    if (!run?.alive) {
      this.#inputBacklog = [];
      return;
    }
    while (this.#inputBacklog.length > 0) {
      const chunk = this.#inputBacklog[0]!;
      if (run.shared) {
        const n = run.input!.write(chunk);
        run.doorbell!.ring();
        if (n < chunk.length) {
          this.#inputBacklog[0] = chunk.subarray(n);
          break;
        }
        this.#inputBacklog.shift();
      } else {
        // Fallback: one message per chunk the terminal produced; the worker's ring takes what fits.
        this.#inputBacklog.shift();
        void run.remote.input(chunk).then((n) => {
          if (n < chunk.length) {
            this.#inputBacklog.unshift(chunk.subarray(n));
            this.#scheduleInputRetry();
          }
        });
      }
    }
    if (this.#inputBacklog.length > 0) this.#scheduleInputRetry();
  }

  #scheduleInputRetry(): void {
    if (this.#inputTimer !== undefined) return;
    this.#inputTimer = setTimeout(() => {
      this.#inputTimer = undefined;
      this.#flushInput();
    }, 20);
  }

  // --- lifecycle ---

  get running(): boolean {
    return this.#run !== undefined;
  }

  /** Downloads (or reads from the cache) the image, then boots it in a new worker. */
  async start(): Promise<void> {
    const phase = this.#view.phase;
    if (phase !== 'stopped' && phase !== 'error') return;
    this.#teardown();
    // A VM of the user's own files boots with the default image's firmware and kernel (customBoot).
    const custom = this.options.image === CUSTOM_IMAGE_ID;
    const entry = catalogEntry(custom ? 'default' : this.options.image);
    if (!entry) {
      this.#update({ phase: 'error', error: { kind: 'download', message: `unknown image "${this.options.image}"` } });
      return;
    }
    this.#update({
      phase: 'downloading',
      progress: { loaded: 0, total: 0, cached: false },
      error: undefined,
      lastHalt: undefined,
    });
    let images: ImageFiles;
    try {
      images = this.#images ?? (await fetchImage(entry, (progress) => this.#update({ progress })));
    } catch (error) {
      if (this.#disposed) return;
      const message =
        error instanceof ImageDownloadError ? error.message : `image ${entry.id}: ${(error as Error).message}`;
      this.#update({ phase: 'error', progress: undefined, error: { kind: 'download', message } });
      return;
    }
    if (this.#disposed) return;
    this.#images = images;
    let disk: { request: VmDiskRequest; base: string } | undefined;
    try {
      if (custom) {
        const boot = await customBoot(this.options.id, images);
        images = boot.images;
        disk = await this.#openDisk(entry, images, boot);
      } else disk = await this.#openDisk(entry, images);
    } catch (error) {
      if (this.#disposed) return;
      this.#update({ phase: 'error', progress: undefined, error: { kind: 'disk', message: (error as Error).message } });
      return;
    }
    if (this.#disposed) return;
    this.#update({ phase: 'starting', progress: undefined, uptimeMs: 0, mips: 0, reboots: 0, rebootedAt: undefined });
    await this.#boot(images, disk);
  }

  /** The image's disk with this VM's saved overlay, or undefined for images without a disk. */
  async #openDisk(
    entry: CatalogEntry,
    images: ImageFiles,
    raw?: { readonly disk: Uint8Array; readonly identity: string },
  ): Promise<{ request: VmDiskRequest; base: string } | undefined> {
    const manifest = images.manifest.disk;
    const base = raw ? raw.identity : await diskIdentity(images.manifest);
    if ((!manifest && !raw) || base === undefined) return undefined;
    let saved;
    try {
      saved = await loadOverlay(this.options.id);
    } catch (error) {
      throw new Error(
        `the saved disk of this VM could not be read (${(error as Error).message}); Reset disk starts it afresh`,
        {
          cause: error,
        },
      );
    }
    if (saved.base !== undefined && saved.base !== base) {
      throw new Error(
        `the saved disk of this VM was written over another version of image ${images.manifest.name}; Reset disk starts it afresh`,
      );
    }
    if (raw) return { base, request: { source: { kind: 'raw', bytes: raw.disk }, overlay: saved.blocks } };
    if (!manifest) return undefined;
    const total = manifest.chunks.reduce((n, c) => n + c.compressedSize, 0);
    this.#update({ disk: { downloadedBytes: 0, totalBytes: total, fetchedChunks: 0 } });
    return {
      base,
      request: {
        source: { kind: 'chunked', baseUrl: imageDirectoryUrl(entry), manifest },
        overlay: saved.blocks,
        ...(manifest.readOnly ? { readOnly: true } : {}),
      },
    };
  }

  /** Forgets what the guest wrote to its disk: the next start sees the image's disk as shipped. */
  async resetDisk(): Promise<void> {
    if (this.#run) throw new Error('power the VM off before resetting its disk');
    await deleteOverlay(this.options.id);
    const disk = this.#view.disk;
    this.#update({
      ...(disk
        ? {
            disk: {
              downloadedBytes: disk.downloadedBytes,
              totalBytes: disk.totalBytes,
              fetchedChunks: disk.fetchedChunks,
            },
          }
        : {}),
      ...(this.#view.error?.kind === 'disk' ? { phase: 'stopped' as const, error: undefined } : {}),
    });
  }

  #onDiskStatus(run: Running, status: DiskStatus): void {
    if (!run.alive) return;
    const { error: _previous, ...rest } = this.#view.disk ?? {};
    if (status.error !== undefined && status.error !== this.#view.disk?.error)
      this.#note(`disk error: ${status.error}`);
    this.#update({ disk: { ...rest, ...status } });
  }

  async #onDiskWrites(base: string, blocks: Map<number, Uint8Array>): Promise<void> {
    try {
      await saveOverlayBlocks(this.options.id, base, blocks);
    } catch (error) {
      const message = `the disk's changes could not be saved in the browser (${(error as Error).message})`;
      if (this.#view.disk?.saveError === undefined) this.#note(message);
      if (this.#view.disk) this.#update({ disk: { ...this.#view.disk, saveError: message } });
      throw new Error(message, { cause: error });
    }
    if (this.#view.disk?.saveError !== undefined) {
      const { saveError: _cleared, ...rest } = this.#view.disk;
      this.#update({ disk: rest });
    }
  }

  async #boot(images: ImageFiles, disk: { request: VmDiskRequest; base: string } | undefined): Promise<void> {
    const shared = this.options.shared;
    const worker = new Worker(new URL('../../workers/vm.worker.ts', import.meta.url), {
      type: 'module',
      name: `tabvm-vm`,
    });
    const remote = Comlink.wrap<VmWorkerApi>(worker);
    let channels: ConsoleChannels;
    let run: Running;
    if (shared) {
      const input = ByteRing.create(CONSOLE_INPUT_BYTES, true);
      const output = ByteRing.create(CONSOLE_OUTPUT_BYTES, true);
      const doorbell = new Doorbell(new SharedArrayBuffer(4));
      channels = {
        mode: 'shared',
        input: input.buffer as SharedArrayBuffer,
        output: output.buffer as SharedArrayBuffer,
        doorbell: doorbell.buffer as SharedArrayBuffer,
      };
      run = {
        worker,
        remote,
        shared,
        input,
        output,
        doorbell,
        alive: true,
        createdAt: performance.now(),
        booted: false,
      };
    } else {
      channels = { mode: 'message' };
      run = { worker, remote, shared, alive: true, createdAt: performance.now(), booted: false };
    }
    this.#run = run;
    // The watchdog runs from the start: a worker stuck while it boots is as hung as one stuck later.
    run.timer = setInterval(() => void this.#pollStats(run), STATS_INTERVAL_MS);
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.#fail(run, 'crash', `the VM's worker failed: ${event.message || 'an uncaught error'}`);
    });
    worker.addEventListener('messageerror', () =>
      this.#fail(run, 'crash', 'the VM worker sent a message that could not be read'),
    );

    const events: VmEvents = {
      output: (bytes) => {
        if (run.alive) this.#emitOutput(bytes);
      },
      rebooted: () => {
        if (!run.alive) return;
        this.#note('the guest rebooted');
        this.#update({ reboots: this.#view.reboots + 1, rebootedAt: performance.now() });
      },
      halted: (halt) => this.#onHalt(run, halt),
      // Writes that arrive after a power-off still belong to the VM's disk: keep them.
      diskWrites: (blocks) =>
        disk ? this.#onDiskWrites(disk.base, blocks) : Promise.reject(new Error('this VM has no disk')),
      diskStatus: (status) => this.#onDiskStatus(run, status),
    };
    try {
      // Each VM gets its own copy: the bytes are transferred, and the cached originals serve the next start.
      const bios = images.bios.slice();
      const kernel = images.kernel?.slice();
      const initrd = images.initrd?.slice();
      const transfer = [bios.buffer, ...(kernel ? [kernel.buffer] : []), ...(initrd ? [initrd.buffer] : [])];
      await remote.boot(
        Comlink.transfer(
          {
            ramBytes: this.options.ramMiB * 1024 * 1024,
            bootargs: images.manifest.bootargs,
            bios,
            ...(kernel ? { kernel } : {}),
            ...(initrd ? { initrd } : {}),
            channels,
            ...(disk ? { disk: disk.request } : {}),
          },
          transfer,
        ),
        Comlink.proxy(events),
      );
    } catch (error) {
      this.#fail(run, 'crash', `the VM could not boot: ${(error as Error).message}`);
      return;
    }
    if (!run.alive) return;
    run.booted = true;
    this.#update({ phase: 'running' });
    if (run.shared) void this.#pumpOutput(run);
  }

  /** Shared mode: moves guest output from the ring to the terminal; sleeps in Atomics.waitAsync meanwhile. */
  async #pumpOutput(run: Running): Promise<void> {
    const ring = run.output!;
    while (run.alive) {
      const seen = ring.writeCount();
      const bytes = ring.read();
      if (bytes.length > 0) this.#emitOutput(bytes);
      else await ring.waitForData(seen, 250);
    }
  }

  async #pollStats(run: Running): Promise<void> {
    if (!run.alive) return;
    const now = performance.now();
    if (!run.booted) {
      if (now - run.createdAt > HANG_TIMEOUT_MS) {
        this.#fail(
          run,
          'hang',
          `the VM did not finish starting within ${Math.round(HANG_TIMEOUT_MS / 1000)} s: its worker is stuck`,
        );
      }
      return;
    }
    if (run.statsPendingSince !== undefined) {
      if (now - run.statsPendingSince > HANG_TIMEOUT_MS) {
        this.#fail(
          run,
          'hang',
          `the VM has not answered for ${Math.round(HANG_TIMEOUT_MS / 1000)} s: its worker is stuck`,
        );
      }
      return;
    }
    run.statsPendingSince = now;
    let stats: VmStats;
    try {
      stats = await run.remote.stats();
    } catch (error) {
      this.#fail(run, 'crash', `the VM's worker failed: ${(error as Error).message}`);
      return;
    }
    run.statsPendingSince = undefined;
    if (!run.alive) return;
    const last = run.lastStats;
    let mips = this.#view.mips;
    if (last && stats.uptimeMs > last.uptimeMs) {
      mips = Math.max(0, stats.instructions - last.instructions) / ((stats.uptimeMs - last.uptimeMs) * 1000);
    } else if (stats.state === 'paused') mips = 0;
    run.lastStats = { instructions: stats.instructions, uptimeMs: stats.uptimeMs };
    this.#update({ uptimeMs: stats.uptimeMs, mips, idle: stats.state === 'idle' });
  }

  #onHalt(run: Running, halt: VmHalt): void {
    if (!run.alive) return;
    if (halt.reason === 'error') {
      this.#fail(run, 'crash', `the emulator stopped: ${halt.message}`);
      return;
    }
    const lastHalt =
      halt.reason === 'poweroff' ? `The guest powered off (exit code ${halt.exitCode}).` : 'Powered off.';
    this.#note(halt.reason === 'poweroff' ? 'the guest powered off' : 'powered off by the host');
    this.#teardown();
    this.#update({ phase: 'stopped', lastHalt, mips: 0, idle: false });
  }

  #fail(run: Running, kind: VmError['kind'], message: string): void {
    if (!run.alive) return;
    this.#teardown();
    this.#note(`error: ${message}`);
    this.#update({ phase: 'error', error: { kind, message }, mips: 0, idle: false });
  }

  /** Ends the current worker, if any, and lets its memory go. */
  #teardown(): void {
    const run = this.#run;
    if (!run) return;
    run.alive = false;
    if (run.timer !== undefined) clearInterval(run.timer);
    run.remote[Comlink.releaseProxy]();
    run.worker.terminate();
    run.doorbell?.ring(); // wakes a pump parked in waitAsync so it sees alive = false
    this.#run = undefined;
    this.#inputBacklog = [];
  }

  /** Rings the doorbell after a control call so a worker asleep in Atomics.wait handles it now. */
  #control(call: (remote: Comlink.Remote<VmWorkerApi>) => Promise<unknown>): Promise<unknown> {
    const run = this.#run;
    if (!run?.alive) return Promise.resolve();
    const done = call(run.remote);
    run.doorbell?.ring();
    return done;
  }

  async pause(): Promise<void> {
    if (this.#view.phase !== 'running') return;
    await this.#control((remote) => remote.pause());
    if (this.#run?.alive) this.#update({ phase: 'paused', mips: 0 });
  }

  async resume(): Promise<void> {
    if (this.#view.phase !== 'paused') return;
    await this.#control((remote) => remote.resume());
    if (this.#run?.alive) this.#update({ phase: 'running' });
  }

  async reset(): Promise<void> {
    if (this.#view.phase !== 'running' && this.#view.phase !== 'paused') return;
    this.#note('reset');
    await this.#control((remote) => remote.reset());
  }

  /** Pulls the plug: the worker is terminated at once (a guest that hangs cannot delay it). */
  powerOff(): void {
    const run = this.#run;
    if (!run) return;
    this.#note('powered off');
    this.#teardown();
    this.#update({ phase: 'stopped', lastHalt: 'Powered off.', mips: 0, idle: false, progress: undefined });
  }

  /** After an error: a fresh worker from the same image. */
  async restart(): Promise<void> {
    this.#teardown();
    this.#update({ phase: 'stopped', error: undefined });
    await this.start();
  }

  /** The VM is deleted: its worker ends and nothing more is reported. */
  dispose(): void {
    this.#disposed = true;
    this.#teardown();
    this.#listeners.clear();
    this.#outputListeners.clear();
    this.#scrollback = [];
  }
}
