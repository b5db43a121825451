/**
 * VmController: the page's handle on one VM. It lives as long as the VM is in the library; each start
 * spawns a dedicated module Worker (workers/vm.worker.ts), wraps it with Comlink, and owns the console
 * rings and the doorbell it shares with that worker. Powering off, a guest poweroff or deleting the VM
 * terminates the worker, which frees its memory. A worker that throws or stops answering puts this VM
 * alone in the `error` phase; other VMs and the page carry on.
 *
 * The controller joins pieces that each do one job and are tested alone: the console that outlives
 * workers (console-log.ts), the disk and its saved overlay (vm-disk.ts), the image's files
 * (vm-images.ts) and the page's half of a restore (snapshot-restore.ts); docs/snapshots-restore.md
 * describes them. It keeps the worker's life: spawning, the watchdog, halts and failures, and the view.
 */
import * as Comlink from 'comlink';
import { createVmChannels, type HostVmChannels } from '../../workers/protocol/vm-channels.ts';
import { plugNetwork, withLease, type NetworkHook, type PluggedNetwork } from '../../workers/protocol/net-link.ts';
import type { GuestSocket } from '../../workers/host/net/browser-network.ts';
import { serveDisks } from '../../workers/protocol/disk-channel.ts';
import { GuestAgent, checkCaPem, type GuestMemory } from '../../workers/protocol/guest-agent.ts';
import {
  type ConsoleSize,
  type VmEvents,
  type VmHalt,
  type VmSnapshotResult,
  type VmStats,
  type VmWorkerApi,
} from '../../workers/protocol/vm-api.ts';
import { ObservableState } from './observable-state.ts';
import type { SnapshotContents } from '../../workers/protocol/snapshot-container.ts';
import { restoredCard } from '../../workers/protocol/snapshot-records.ts';
import type { DownloadProgress, ImageFiles } from './images.ts';
import { VmImages, type BootFiles } from './vm-images.ts';
import { ConsoleInput, ConsoleLog, withoutTerminalQueries } from './console-log.ts';
import { VmDisk, type DiskPlan, type VmDiskView } from './vm-disk.ts';
import { VmShare } from './vm-share.ts';
import {
  checkRestoreDisk,
  contentsBuffers,
  rtcAtWallClock,
  snapshotDiskBlocks,
  unpackForRestore,
  type RestoreSource,
} from './snapshot-restore.ts';

export type { VmDiskView } from './vm-disk.ts';

export type VmPhase = 'stopped' | 'downloading' | 'starting' | 'running' | 'paused' | 'error';

export interface VmError {
  /**
   * download: the image could not be fetched or verified (Retry); crash/hang: the worker failed (Restart);
   * panic: the guest kernel panicked (Restart); disk: the VM's saved disk cannot be used (Reset disk, then Retry).
   */
  readonly kind: 'download' | 'crash' | 'hang' | 'panic' | 'disk';
  readonly message: string;
}

export interface VmView {
  readonly phase: VmPhase;
  readonly progress?: DownloadProgress;
  readonly error?: VmError;
  /** Why the VM last stopped, for the stopped state's label. */
  readonly lastHalt?: string;
  /**
   * How long the VM has run since it was powered on (Start or Reset), pauses excluded: the guest's own
   * clock, so after a restore it continues from the snapshot's time (VmStats.guestTimeMs).
   */
  readonly uptimeMs: number;
  /** Millions of guest instructions per second over the last stats interval. */
  readonly mips: number;
  /**
   * Host CPU the VM's worker threads used over the last stats interval, in % of one core (all harts
   * summed, so up to 100 × CPUs): their time running the guest (VmStats.cpuMs) over the page's time.
   */
  readonly cpuPercent: number;
  readonly idle: boolean;
  readonly reboots: number;
  /** performance.now() of the last guest reboot. */
  readonly rebootedAt?: number;
  /** Whether the console has printed anything yet (the UI shows an empty state until then). */
  readonly hasOutput: boolean;
  /** How many times a snapshot has replaced this VM's state. */
  readonly restores: number;
  /** Present while a VM with a disk runs or after it ran. */
  readonly disk?: VmDiskView;
  /**
   * Bytes of Ethernet frames its network card received and sent, counted where the page plugs the card
   * (plugNetwork), as of the last stats interval; per worker (a start or a restore counts from 0).
   * Present while a VM with a card runs or after it ran.
   */
  readonly net?: { readonly receivedBytes: number; readonly sentBytes: number };
  /**
   * The TCP ports the guest listens on, ascending, as its guest agent reports them (docs/guest-agent.md);
   * empty while no worker runs, and for a guest without an agent.
   */
  readonly guestPorts: readonly number[];
  /**
   * The guest's memory as its kernel counts it (MemTotal, MemAvailable of /proc/meminfo), as its guest
   * agent reports it (docs/guest-agent.md); undefined while no worker runs, and for a guest without an
   * agent of version 2.
   */
  readonly guestMemory: GuestMemory | undefined;
}

export interface VmControllerOptions {
  /**
   * The VM's id in the library: its disk overlay is stored under it. Without one (an embedded VM) the
   * disk's changes live only as long as the worker.
   */
  readonly id?: string;
  /** A catalog image's id, or with `manifestUrl` a name for an image outside the catalog. */
  readonly image: string;
  /** An image outside the catalog (the embed library): the URL of its manifest. */
  readonly manifestUrl?: string;
  readonly ramMiB: number;
  /** CPUs (harts), 1 to 8 (default 1); the message fallback runs one. A restored snapshot brings its own count. */
  readonly cpus?: number;
  /** Shared memory and SAB rings when the page is cross-origin isolated; the message fallback otherwise. */
  readonly shared: boolean;
  /**
   * A virtio-net card with this address, plugged into what `onNetwork` returns (docs/networking.md; the
   * app and the embed library plug the browser's network, workers/host/net/browser-network.ts); without
   * `onNetwork` its frames go nowhere. Without `net` the VM has no network card. A restored snapshot
   * brings its own card, or none, as its guest booted with.
   */
  readonly net?: {
    readonly mac: string;
    readonly onNetwork?: NetworkHook;
    /** A TCP connection into the guest on the network `onNetwork` plugs (vm-fetch.ts). */
    readonly connectToGuest?: (port: number) => GuestSocket;
  };
}

/** The terminal side of a VM's console (src/console's addon joins an xterm to one). */
export interface ConsoleEndpoint {
  /** Keystrokes and pastes for the guest. */
  send(bytes: Uint8Array): void;
  /** Receives everything the guest printed so far, then each new chunk; returns the unsubscribe. */
  subscribe(onOutput: (bytes: Uint8Array) => void): () => void;
  /** The terminal shows `cols` × `rows` cells: the guest's console gets that size (docs/console.md). */
  resize(cols: number, rows: number): void;
}

const STATS_INTERVAL_MS = 1000;
/**
 * A worker that has not answered a stats call for this long is hung (its loop yields every ~10 ms).
 * Only time the page saw pass counts (seenMs): a page held up itself is no sign of a stuck worker.
 */
const HANG_TIMEOUT_MS = 15_000;

/**
 * The time the watchdog counts for one of its ticks: the time since the last, but at most two intervals.
 * A tick that comes much later than asked means this page did not run either (the machine was suspended,
 * the tab frozen, or the host so loaded that the page's own thread waited), and a reply may be waiting
 * behind the tick: that time is no evidence against the worker.
 */
function seenMs(run: Running, now: number): number {
  const elapsed = Math.min(Math.max(0, now - run.lastTickAt), 2 * STATS_INTERVAL_MS);
  run.lastTickAt = now;
  return elapsed;
}

interface Running {
  readonly worker: Worker;
  readonly remote: Comlink.Remote<VmWorkerApi>;
  /** The host ends of the VM's channels, in the page's mode (shared rings or messages). */
  readonly channels: HostVmChannels;
  alive: boolean;
  /** The watchdog's last tick (performance.now()), and the time it has seen the worker booting (seenMs). */
  lastTickAt: number;
  bootingMs: number;
  /** Whether its boot() has returned. */
  booted: boolean;
  /** The last stats and performance.now() when they were asked for. */
  lastStats?: { instructions: number; uptimeMs: number; cpuMs: number; at: number };
  /** While a stats call is unanswered: the time the watchdog has seen it wait (seenMs). */
  statsWaitedMs?: number;
  timer?: ReturnType<typeof setInterval>;
  /** Fails the boot() in progress (the worker crashed or hung while it started). */
  readonly failBoot: (error: Error) => void;
  /** Set when a restored snapshot replaced this worker: its late disk writes must not reach storage. */
  superseded?: boolean;
  /** The network plugged into its card, if it has one. */
  readonly net?: PluggedNetwork;
  /** The host's side of the guest agent (docs/guest-agent.md), on the worker's `agent` channel. */
  readonly agent: GuestAgent;
}

function newVmWorker(): Worker {
  return new Worker(new URL('../../workers/vm.worker.ts', import.meta.url), { type: 'module', name: 'tabvm-vm' });
}

/** Why a worker did not finish booting; `cancelled` when the page ended it (power off, delete). */
class BootFailure extends Error {
  constructor(
    readonly kind: VmError['kind'] | 'cancelled',
    message: string,
  ) {
    super(message);
  }
}

export class VmController {
  #options: VmControllerOptions;

  get options(): VmControllerOptions {
    return this.#options;
  }
  readonly #state = new ObservableState<VmView>({
    phase: 'stopped',
    uptimeMs: 0,
    mips: 0,
    cpuPercent: 0,
    idle: false,
    reboots: 0,
    hasOutput: false,
    restores: 0,
    guestPorts: [],
    guestMemory: undefined,
  });
  readonly #log = new ConsoleLog(() => {
    if (!this.#view.hasOutput) this.#update({ hasOutput: true });
  });
  readonly #input = new ConsoleInput(() => this.#run);
  /** The terminal's size, from its last resize: every boot request carries it, and a running worker gets it. */
  #consoleSize: ConsoleSize | undefined;
  readonly #disk: VmDisk;
  /** The VM's shared folder: given to every boot, and the page's way to its files. */
  readonly share: VmShare;
  #run: Running | undefined;
  readonly #images: VmImages;
  #disposed = false;
  #head: string | undefined;
  /** Workers started but not booted yet (they become #run once they are). */
  readonly #booting = new Set<Running>();
  /** A worker loaded ahead of its boot (prewarm), which the next start or restore takes. */
  #spare: Worker | undefined;
  /** The CA certificate the guest trusts (installGuestCa): every start and restore installs it. */
  #guestCa: string | undefined;

  constructor(options: VmControllerOptions) {
    this.#options = options;
    this.#images = new VmImages(options);
    this.#disk = new VmDisk(options.id, {
      view: () => this.#view.disk,
      setView: (disk) => this.#update({ disk }),
      note: (text) => this.#note(text),
    });
    this.share = new VmShare(options.id, (text) => this.#note(text));
  }

  // --- observable state (useSyncExternalStore) ---

  readonly subscribe = this.#state.subscribe;
  readonly getView = this.#state.get;

  get #view(): VmView {
    return this.#state.get();
  }

  #update(patch: Partial<VmView>): void {
    this.#state.update(patch);
  }

  // --- console ---

  readonly console: ConsoleEndpoint = {
    send: (bytes) => {
      this.#input.send(bytes);
      for (const listener of this.#typed) listener(bytes);
    },
    subscribe: (onOutput) => this.#log.subscribe(onOutput),
    resize: (cols, rows) => {
      if (this.#consoleSize?.cols === cols && this.#consoleSize.rows === rows) return;
      this.#consoleSize = { cols, rows };
      // A worker still booting gets the size when its boot() returns (#boot).
      if (this.#run?.booted) void this.#control((remote) => remote.resize(cols, rows));
    },
  };

  readonly #typed = new Set<(bytes: Uint8Array) => void>();

  /** Calls `listener` with what is typed or pasted into the console from now on; returns the unsubscribe. */
  onInput(listener: (bytes: Uint8Array) => void): () => void {
    this.#typed.add(listener);
    return () => this.#typed.delete(listener);
  }

  /** A line from the host, not the guest (download progress, halts), in the console's own voice. */
  #note(text: string): void {
    this.#log.note(text);
  }

  /** A line from the host in the VM's console, as the controller's own notes (e.g. the network's). */
  note(text: string): void {
    this.#note(text);
  }

  // --- lifecycle ---

  get running(): boolean {
    return this.#run !== undefined;
  }

  /**
   * Downloads (or reads from the cache) the image, then boots it in a new worker. A VM whose disk has
   * nothing written yet and whose image has a pre-booted snapshot for its RAM size starts from that
   * snapshot instead (#startFromImageSnapshot); its shell waits at its prompt, which it printed before
   * the capture: with `prompt`, an empty line makes it print one. Resolves with how the VM started, or
   * undefined if it did not.
   */
  async start({ prompt = true }: { prompt?: boolean } = {}): Promise<'booted' | 'restored' | undefined> {
    const phase = this.#view.phase;
    if (phase !== 'stopped' && phase !== 'error') return undefined;
    this.#teardown();
    let images: ImageFiles;
    let disk: DiskPlan | undefined;
    try {
      const prepared = await this.#prepare();
      if (!prepared) return undefined;
      images = prepared.images;
      disk = await this.#disk.open(images, this.#images.entry!, prepared.raw);
    } catch (error) {
      if (this.#disposed) return undefined;
      this.#update({ phase: 'error', progress: undefined, error: { kind: 'disk', message: (error as Error).message } });
      return undefined;
    }
    if (this.#disposed) return undefined;
    if (disk?.request.overlay.size === 0 && (await this.#startFromImageSnapshot(images, prompt))) return 'restored';
    if (this.#disposed) return undefined;
    this.#update({
      phase: 'starting',
      progress: undefined,
      uptimeMs: 0,
      mips: 0,
      cpuPercent: 0,
      reboots: 0,
      rebootedAt: undefined,
      net: undefined,
    });
    this.#head = undefined;
    try {
      this.#install(await this.#spawn(images, disk));
      return 'booted';
    } catch (error) {
      if (this.#disposed) return undefined;
      if (!(error instanceof BootFailure))
        this.#setError('crash', `the VM could not boot: ${(error as Error).message}`);
      else if (error.kind !== 'cancelled') this.#setError(error.kind, error.message);
      return undefined;
    }
  }

  /**
   * Starts the VM from its image's pre-booted snapshot (docs/images.md), with the RTC at today's date
   * (rtcAtWallClock); false if the image has none for this RAM size, or it cannot be used (said in the
   * console), and the VM then boots. Reset is a cold boot.
   */
  async #startFromImageSnapshot(images: ImageFiles, prompt: boolean): Promise<boolean> {
    try {
      const file = await this.#images.snapshot(images, this.options.ramMiB);
      if (!file || this.#disposed) return false;
      const contents = rtcAtWallClock(await unpackForRestore([file]), Date.now());
      await this.restore(contents, `${images.manifest.title}, booted`);
      if (this.#run === undefined) return false;
      // No command runs for an empty line, so the guest's first command still finds its clock to set.
      if (prompt) this.console.send(new Uint8Array([0x0d]));
      return true;
    } catch (error) {
      if (!this.#disposed) this.#note(`the pre-booted snapshot cannot be used (${(error as Error).message}); booting`);
      return false;
    }
  }

  /**
   * Downloads (or reads from the cache) the image's files without starting a worker, so that a start()
   * or restore() after it need not wait for them (the embed fetches a snapshot meanwhile). False if they
   * could not be loaded: the VM is then in the `error` phase, which says why.
   */
  async loadImages(): Promise<boolean> {
    return (await this.#loadImages()) !== undefined;
  }

  /** The image's files, downloaded or from the cache; on failure the VM shows the download error and this is undefined. */
  async #loadImages(): Promise<ImageFiles | undefined> {
    if (this.#images.loaded) return this.#images.load();
    const before = this.#view.phase;
    const live = before === 'running' || before === 'paused';
    if (!live)
      this.#update({
        phase: 'downloading',
        progress: { loaded: 0, total: 0, cached: false },
        error: undefined,
        lastHalt: undefined,
      });
    let files: ImageFiles;
    try {
      files = await this.#images.load((progress) => {
        if (!live) this.#update({ progress });
      });
    } catch (error) {
      if (this.#disposed) return undefined;
      if (live) throw error;
      this.#update({
        phase: 'error',
        progress: undefined,
        error: { kind: 'download', message: (error as Error).message },
      });
      return undefined;
    }
    return this.#disposed ? undefined : files;
  }

  /** The files a boot needs: the image's, or for a VM of the user's own files those with its raw disk. */
  async #prepare(): Promise<BootFiles | undefined> {
    const images = await this.#loadImages();
    return images && this.#images.boot(images);
  }

  /** Forgets what the guest wrote to its disk: the next start sees the image's disk as shipped. */
  async resetDisk(): Promise<void> {
    if (this.#run) throw new Error('power the VM off before resetting its disk');
    await this.#disk.reset();
    if (this.#view.error?.kind === 'disk') this.#update({ phase: 'stopped', error: undefined });
  }

  /**
   * Takes a snapshot of the running (or paused) VM: the guest stands still for the capture only. With
   * `parent`, the snapshot stores only the pages changed since that one, if it is the last this VM
   * took or was restored from in its series; otherwise it is full (see `result.parent`). It becomes the
   * `head` unless `automatic` (automatic snapshots are a series of their own and do not move it) or of
   * the `migration` series (the rounds of a move to another tab, vm-migration.ts).
   */
  async snapshot(
    request: { id?: string; parent?: string; automatic?: boolean; series?: 'migration' } = {},
  ): Promise<VmSnapshotResult> {
    const run = this.#run;
    if (!run?.alive || !run.booted || (this.#view.phase !== 'running' && this.#view.phase !== 'paused')) {
      throw new Error('the VM is not running');
    }
    const id = request.id ?? crypto.randomUUID();
    const result = (await this.#control((remote) =>
      remote.snapshot({
        id,
        ...(request.parent !== undefined ? { parent: request.parent } : {}),
        ...(request.automatic ? { series: 'automatic' } : request.series ? { series: request.series } : {}),
      }),
    )) as VmSnapshotResult;
    if (!request.automatic && !request.series) this.#head = result.id;
    return result;
  }

  /**
   * Replaces the VM with a fresh worker restored from a snapshot: a chain of files (full snapshot
   * first), or one already unpacked, whose buffers are then transferred to the worker. The snapshot is
   * unpacked once, here, and checked before anything starts (snapshot-restore.ts). The running VM, if
   * any, carries on until the restored one has started: a snapshot that cannot be restored (wrong image,
   * damaged) throws and changes nothing. `label` names it in the console note. Once it resolves, the
   * view's uptime is the restored guest's. With `paused` the restored guest waits for resume() (a VM
   * moved from another tab, vm-migration.ts); `note` replaces the console's "restored snapshot" line.
   * `consoleLine`, the console's last line when the snapshot was taken (consoleLine()), is shown again
   * after the note: the guest's prompt, which it does not print again by itself.
   */
  async restore(
    snapshot: RestoreSource,
    label?: string,
    options: { readonly paused?: boolean; readonly note?: string; readonly consoleLine?: Uint8Array } = {},
  ): Promise<void> {
    const contents = await unpackForRestore(snapshot);
    const { id } = contents.header;
    const prepared = await this.#prepare();
    if (!prepared) throw new Error(this.#view.error?.message ?? 'the image could not be loaded');
    const { images, raw } = prepared;
    // The worker puts the snapshot's overlay in; storage is switched to it only once the restore succeeded.
    const disk = await this.#disk.open(images, this.#images.entry!, raw, true);
    const diskBlocks = disk ? snapshotDiskBlocks(contents) : undefined;
    checkRestoreDisk(
      contents,
      disk?.request.image,
      raw ? `disk file ${images.manifest.title}` : `${images.manifest.title} disk image`,
    );
    const wasLive = this.#run !== undefined;
    if (!wasLive) this.#update({ phase: 'starting', progress: undefined, error: undefined, lastHalt: undefined });
    let storageSwitched!: () => void;
    const switched = new Promise<void>((resolve) => (storageSwitched = resolve));
    let run: Running;
    try {
      run = await this.#spawn(images, disk, contents, switched, options.paused);
    } catch (error) {
      if (error instanceof BootFailure && error.kind === 'cancelled') return;
      if (!wasLive && !this.#disposed) this.#update({ phase: 'stopped' });
      throw error;
    }
    if (this.#run) this.#run.superseded = true;
    this.#teardown();
    if (disk && diskBlocks) await this.#disk.restored(disk, diskBlocks);
    storageSwitched();
    // From the start the view's uptime is the snapshot's guest time, not the replaced VM's.
    const uptimeMs = await this.#guestTime(run);
    this.#note(options.note ?? `restored snapshot ${label === undefined ? id : JSON.stringify(label)}`);
    if (options.consoleLine) this.#log.append(withoutTerminalQueries(options.consoleLine));
    this.#update({
      uptimeMs,
      mips: 0,
      cpuPercent: 0,
      reboots: 0,
      rebootedAt: undefined,
      lastHalt: undefined,
      error: undefined,
      restores: this.#view.restores + 1,
    });
    this.#head = id;
    this.#install(run, options.paused ? 'paused' : 'running');
  }

  /**
   * The worker's guest time; 0 if it fails or does not answer within HANG_TIMEOUT_MS (a call to a
   * terminated worker never settles), which the stats watchdog then reports.
   */
  async #guestTime(run: Running): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(0), HANG_TIMEOUT_MS)));
    try {
      return await Promise.race([run.remote.stats().then((stats) => stats.guestTimeMs), late]);
    } catch {
      return 0;
    } finally {
      clearTimeout(timer);
    }
  }

  /** What the guest printed since its last line feed (its prompt and typed input), for a snapshot to keep. */
  consoleLine(): Uint8Array<ArrayBuffer> {
    return this.#log.lastLine();
  }

  /**
   * New RAM, CPUs and network card for the next start (the VM's Settings); only while no worker runs.
   * `net: undefined` takes the card out.
   */
  configure(machine: Pick<VmControllerOptions, 'ramMiB' | 'cpus' | 'net'>): void {
    if (this.#run || this.#booting.size > 0) throw new Error('a running VM keeps its RAM, CPUs and network card');
    this.#options = { ...this.#options, ...machine };
  }

  /** The id of the last snapshot this VM took or was restored from, while its worker lives. */
  get head(): string | undefined {
    return this.#run ? this.#head : undefined;
  }

  /**
   * Makes the guest trust the certificate authority `pem` (a PEM certificate's text) through its guest
   * agent (docs/guest-agent.md), now if the VM runs, and again after every later start and restore.
   * Resolves when the running guest's agent has installed it (at once when no VM runs); rejects with
   * one sentence for a text that is no PEM certificate, or when the agent refuses it or does not answer.
   */
  async installGuestCa(pem: string): Promise<void> {
    checkCaPem(pem);
    this.#guestCa = pem;
    const run = this.#run;
    if (run?.alive) await run.agent.installCa(pem);
  }

  /** Makes a booted worker this VM's current one. */
  #install(run: Running, phase: 'running' | 'paused' = 'running'): void {
    this.#run = run;
    this.#update({ phase, guestPorts: run.agent.state.ports, guestMemory: run.agent.state.memory });
    run.channels.console.listen((bytes) => {
      if (run.alive) this.#log.append(bytes);
    });
  }

  /** Starts a worker and boots it (from the images, or an unpacked snapshot); throws if it cannot boot. */
  async #spawn(
    images: ImageFiles,
    disk: DiskPlan | undefined,
    snapshot?: SnapshotContents,
    storageReady?: Promise<void>,
    paused = false,
  ): Promise<Running> {
    const shared = this.options.shared;
    const shares = await this.share.requests(snapshot?.header);
    const worker = this.#spare ?? newVmWorker();
    this.#spare = undefined;
    const remote = Comlink.wrap<VmWorkerApi>(worker);
    // A restored guest has the card it booted with (or none), whatever the options say now; the card takes
    // the VM's own address only if the guest's agent can re-address the guest (restoredCard).
    const card = snapshot && restoredCard(snapshot.header, this.options.net?.mac);
    const net = snapshot
      ? card && { mac: card.mac, onNetwork: withLease(this.options.net?.onNetwork, card) }
      : this.options.net;
    const channels = createVmChannels(shared ? 'shared' : 'message', { net: net !== undefined });
    // Without a network the card's frames are read and dropped, as by a cable into nothing. Unplugged
    // when the worker goes: #kill closes the channels, and the listener with them.
    const plugged = channels.net && plugNetwork(channels.net, net?.onNetwork ?? (() => ({ receive() {} })));
    let rejectBoot: (error: Error) => void = () => {};
    const failed = new Promise<never>((_, reject) => (rejectBoot = reject));
    const run: Running = {
      worker,
      remote,
      channels,
      alive: true,
      lastTickAt: performance.now(),
      bootingMs: 0,
      booted: false,
      failBoot: (e: Error) => rejectBoot(e),
      ...(plugged ? { net: plugged } : {}),
      agent: new GuestAgent(channels.agent, {
        wake: () => channels.doorbell.ring(),
        onChange: (state) => {
          if (!run.alive || this.#run !== run) return;
          if (state.ports !== this.#view.guestPorts) this.#update({ guestPorts: state.ports });
          if (state.memory !== this.#view.guestMemory) this.#update({ guestMemory: state.memory });
        },
      }),
    };
    this.#booting.add(run);
    // The watchdog runs from the start: a worker stuck while it boots is as hung as one stuck later.
    run.timer = setInterval(() => void this.#pollStats(run), STATS_INTERVAL_MS);
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.#fail(run, 'crash', `the VM's worker failed: ${event.message || 'an uncaught error'}`);
    });
    worker.addEventListener('messageerror', () =>
      this.#fail(run, 'crash', 'the VM worker sent a message that could not be read'),
    );

    const saveWrites = disk ? this.#disk.writer(disk) : undefined;
    // The disks' writes and status come over their channel until the worker is gone (#kill closes it).
    serveDisks(channels.disks, {
      // Writes that arrive after the guest powered off still belong to the VM's disk: keep them, unless a
      // restored snapshot replaced this worker. A restored worker's writes wait until storage holds its disk.
      writes: async (_disk, blocks) => {
        if (!saveWrites) throw new Error('this VM has no disk');
        await storageReady;
        if (!run.superseded) await saveWrites(blocks);
      },
      status: (_disk, status) => {
        if (run.alive) this.#disk.status(status);
      },
    });
    const events: VmEvents = {
      rebooted: () => {
        if (!run.alive) return;
        this.#note('the guest rebooted');
        this.#update({ reboots: this.#view.reboots + 1, rebootedAt: performance.now() });
      },
      halted: (halt) => this.#onHalt(run, halt),
    };
    try {
      // Each VM gets its own copy: the bytes are transferred, and the cached originals serve the next start.
      const bios = images.bios.slice();
      const kernel = images.kernel?.slice();
      const initrd = images.initrd?.slice();
      const transfer = [
        bios.buffer,
        ...(kernel ? [kernel.buffer] : []),
        ...(initrd ? [initrd.buffer] : []),
        ...(snapshot ? contentsBuffers(snapshot) : []),
        ...channels.transfer,
      ];
      await Promise.race([
        failed,
        remote.boot(
          Comlink.transfer(
            {
              ramBytes: this.options.ramMiB * 1024 * 1024,
              bootargs: images.manifest.bootargs,
              bios,
              ...(kernel ? { kernel } : {}),
              ...(initrd ? { initrd } : {}),
              ...(snapshot ? { snapshot } : {}),
              disks: disk ? [disk.request] : [],
              shares,
              ...(net ? { net: { mac: net.mac } } : {}),
              channels: channels.wires,
              harts: snapshot ? snapshot.header.machine.harts : (this.options.cpus ?? 1),
              ...(this.#consoleSize ? { consoleSize: this.#consoleSize } : {}),
              ...(paused ? { paused } : {}),
            },
            transfer,
          ),
          Comlink.proxy(events),
        ),
      ]);
    } catch (error) {
      this.#kill(run);
      throw error;
    } finally {
      this.#booting.delete(run);
    }
    if (!run.alive) throw new BootFailure('cancelled', 'the VM stopped while it started');
    run.booted = true;
    this.#instructAgent(run, snapshot !== undefined, net?.mac);
    // The terminal may have changed size while the worker booted.
    const size = this.#consoleSize;
    if (size) {
      void run.remote.resize(size.cols, size.rows);
      run.channels.doorbell.ring();
    }
    return run;
  }

  /**
   * What the guest agent of a booted worker is told: after a restore, the time now (the guest's clock
   * is the snapshot's) and the card's address (the snapshot's guest has the snapshot's); the CA the guest
   * trusts. A fresh boot's lines wait until its agent opens its port; a guest without an agent never
   * answers, which is no error; what an agent refuses is said on the console.
   */
  #instructAgent(run: Running, restored: boolean, mac: string | undefined): void {
    const refused = (error: unknown) => {
      const message = (error as Error).message;
      if (run.alive && message.startsWith('the guest agent could not')) this.#note(message);
    };
    if (restored) {
      run.agent.setTime().catch(refused);
      if (mac) run.agent.setNet(mac).catch(refused);
    }
    if (this.#guestCa) run.agent.installCa(this.#guestCa).catch(refused);
  }

  async #pollStats(run: Running): Promise<void> {
    if (!run.alive) return;
    const now = performance.now();
    const seen = seenMs(run, now);
    if (!run.booted) {
      run.bootingMs += seen;
      if (run.bootingMs > HANG_TIMEOUT_MS) {
        this.#fail(
          run,
          'hang',
          `the VM did not finish starting within ${Math.round(HANG_TIMEOUT_MS / 1000)} s: its worker is stuck`,
        );
      }
      return;
    }
    if (run.statsWaitedMs !== undefined) {
      run.statsWaitedMs += seen;
      if (run.statsWaitedMs > HANG_TIMEOUT_MS) {
        this.#fail(
          run,
          'hang',
          `the VM has not answered for ${Math.round(HANG_TIMEOUT_MS / 1000)} s: its worker is stuck`,
        );
      }
      return;
    }
    run.statsWaitedMs = 0;
    let stats: VmStats;
    try {
      stats = await run.remote.stats();
    } catch (error) {
      this.#fail(run, 'crash', `the VM's worker failed: ${(error as Error).message}`);
      return;
    }
    run.statsWaitedMs = undefined;
    if (!run.alive) return;
    const last = run.lastStats;
    let mips = this.#view.mips;
    if (last && stats.uptimeMs > last.uptimeMs) {
      mips = Math.max(0, stats.instructions - last.instructions) / ((stats.uptimeMs - last.uptimeMs) * 1000);
    } else if (stats.state === 'paused') mips = 0;
    const cpuPercent = last && now > last.at ? (Math.max(0, stats.cpuMs - last.cpuMs) / (now - last.at)) * 100 : 0;
    run.lastStats = { instructions: stats.instructions, uptimeMs: stats.uptimeMs, cpuMs: stats.cpuMs, at: now };
    this.#update({
      uptimeMs: stats.guestTimeMs,
      mips,
      cpuPercent,
      idle: stats.state === 'idle',
      net: run.net && { receivedBytes: run.net.receivedBytes, sentBytes: run.net.sentBytes },
    });
  }

  #onHalt(run: Running, halt: VmHalt): void {
    if (!run.alive) return;
    if (halt.reason === 'panic') {
      this.#fail(run, 'panic', `the guest kernel panicked: ${halt.message}`);
      return;
    }
    if (run !== this.#run) {
      run.failBoot(
        halt.reason === 'error'
          ? new BootFailure('crash', `the emulator stopped: ${halt.message}`)
          : new BootFailure('cancelled', 'the VM stopped while it started'),
      );
      this.#kill(run);
      return;
    }
    if (halt.reason === 'error') {
      this.#fail(run, 'crash', `the emulator stopped: ${halt.message}`);
      return;
    }
    const lastHalt =
      halt.reason === 'poweroff' ? `The guest powered off (exit code ${halt.exitCode}).` : 'Powered off.';
    this.#note(halt.reason === 'poweroff' ? 'the guest powered off' : 'powered off by the host');
    this.#teardown();
    this.#update({ phase: 'stopped', lastHalt, mips: 0, cpuPercent: 0, idle: false });
  }

  #fail(run: Running, kind: VmError['kind'], message: string): void {
    if (!run.alive) return;
    if (run !== this.#run) {
      // A worker still booting (start or restore): its boot() call fails with this message.
      run.failBoot(new BootFailure(kind, message));
      this.#kill(run);
      return;
    }
    this.#teardown();
    this.#setError(kind, message);
  }

  #setError(kind: VmError['kind'], message: string): void {
    this.#note(`error: ${message}`);
    this.#update({
      phase: 'error',
      error: { kind, message },
      mips: 0,
      cpuPercent: 0,
      idle: false,
      progress: undefined,
    });
  }

  /** Ends the current worker, if any, and lets its memory go. */
  #teardown(): void {
    const run = this.#run;
    if (!run) return;
    this.#kill(run);
    this.#run = undefined;
    this.#input.clear();
    if (this.#view.guestPorts.length > 0 || this.#view.guestMemory) this.#update({ guestPorts: [], guestMemory: undefined });
  }

  /** Ends workers still booting (start or restore); their boot fails as cancelled. */
  #cancelBoots(): void {
    for (const run of this.#booting) {
      run.failBoot(new BootFailure('cancelled', 'the VM was powered off while it started'));
      this.#kill(run);
    }
    this.#booting.clear();
  }

  #kill(run: Running): void {
    if (!run.alive) return; // a released Comlink proxy throws on every use, even a second release
    run.alive = false;
    if (run.timer !== undefined) clearInterval(run.timer);
    run.remote[Comlink.releaseProxy]();
    run.worker.terminate();
    run.agent.close();
    run.channels.close();
  }

  /** Rings the doorbell after a control call so a worker asleep in Atomics.wait handles it now. */
  #control(call: (remote: Comlink.Remote<VmWorkerApi>) => Promise<unknown>): Promise<unknown> {
    const run = this.#run;
    if (!run?.alive) return Promise.resolve();
    const done = call(run.remote);
    run.channels.doorbell.ring();
    return done;
  }

  async pause(): Promise<void> {
    if (this.#view.phase !== 'running') return;
    await this.#control((remote) => remote.pause());
    if (this.#run?.alive) this.#update({ phase: 'paused', mips: 0, cpuPercent: 0 });
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

  /**
   * Loads a worker now for the next start or restore to boot: a VM moving here from another tab is
   * paused meanwhile, and a new worker's script takes ~150 ms to load under load (docs/migration.md).
   */
  prewarm(): void {
    this.#spare ??= newVmWorker();
  }

  /**
   * Block requests in flight complete and the disk's held-back writes are stored (IndexedDB) before this
   * resolves: a VM about to move to another tab, whose restore there reads the stored overlay.
   */
  async flushDisks(): Promise<void> {
    if (!this.#run?.booted) throw new Error('the VM is not running');
    await this.#control((remote) => remote.flushDisks());
  }

  /** The console's scrollback, oldest first (it moves with the VM to another tab). */
  scrollback(): Uint8Array[] {
    return this.#log.kept();
  }

  /** Shows `chunks` (the scrollback of the tab the VM moved from) instead of this console's own. */
  adoptScrollback(chunks: readonly Uint8Array[]): void {
    this.#log.replace(chunks);
  }

  /**
   * The VM runs in another tab: this worker ends without a word to the guest, and none of its late disk
   * writes reach storage. Unlike a power off, the VM's state lives on there. `note` says why in the console.
   */
  handOver(note = 'moved to another tab'): void {
    if (this.#run) this.#run.superseded = true;
    this.#teardown();
    this.#note(note);
    this.#update({ phase: 'stopped', lastHalt: 'It runs in another tab.', mips: 0, idle: false });
  }

  /** Pulls the plug: the worker is terminated at once (a guest that hangs cannot delay it). */
  powerOff(): void {
    if (!this.#run && this.#booting.size === 0) return;
    this.#note('powered off');
    this.#cancelBoots();
    this.#teardown();
    this.#update({
      phase: 'stopped',
      lastHalt: 'Powered off.',
      mips: 0,
      cpuPercent: 0,
      idle: false,
      progress: undefined,
    });
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
    this.#disk.dispose();
    void this.share.dispose();
    this.#cancelBoots();
    this.#teardown();
    this.#spare?.terminate();
    this.#spare = undefined;
    this.#state.clear();
    this.#log.clear();
  }
}
