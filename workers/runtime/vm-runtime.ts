/**
 * The VM runtime (DESIGN.md §7, "one VM runtime, two runners"): everything a VM's thread does with its
 * machine — boot from the images or a snapshot chain, run, pause, capture, restore, reset, power off,
 * statistics, and the host ports — in one place that both runners host:
 *
 *   browser:  page ──Comlink──▶ workers/vm.worker.ts ──┐
 *                                                      ├──▶ VmRuntime ──▶ Machine + RunLoop + ports
 *   Node:     scripts/vm.ts ──parentPort──▶ scripts/vm-node-worker.ts ──┘        │
 *                                                                                 └─ channels (rings or messages)
 *
 * A runner only adapts it to its thread API: it loads the CPU core, says how files are read, and turns
 * the runtime's events into its own messages. Nothing here branches on the mode: the channels chose
 * their implementation when they were opened (workers/protocol/vm-channels.ts).
 */
import type { BlockBackend } from '../host/block/backend.ts';
import { openVmDisk } from '../host/block/open-disk.ts';
import type { LogSink } from '../bus/guest-log.ts';
import type { DiskConfig, Machine, MachinePorts } from '../machine/machine.ts';
import { buildMachine, machineConfig, restoreMachine, type MachineSpec } from '../machine/build.ts';
import { captureSnapshot, encodeSnapshot, type SnapshotFingerprint } from '../machine/snapshot.ts';
import { RunLoop, type Port, type RunLoopOptions } from '../machine/run-loop.ts';
import { TIMEBASE_FREQUENCY } from '../machine/memory-map.ts';
import { MAX_HARTS } from '../cpu/layout.ts';
import { openVmChannels, type VmChannels } from '../protocol/vm-channels.ts';
import { DiskClient } from '../protocol/disk-channel.ts';
import type { SnapshotContents } from '../protocol/snapshot-container.ts';
import type { ShareConfig } from '../machine/device-host.ts';
import type { FileTree } from '../host/9p/file-tree.ts';
import { MemoryTree } from '../host/9p/memory-tree.ts';
import { DirectoryHandleTree } from '../host/9p/handle-tree.ts';
import { NinePServer } from '../host/9p/server.ts';
import type {
  VmBootRequest,
  VmDiskRequest,
  VmShareRequest,
  VmEvents,
  VmSnapshotRequest,
  VmSnapshotResult,
  VmStats,
} from '../protocol/vm-api.ts';
import { ConsolePort, StreamSink } from './console-port.ts';
import { ThreadedMachine, type SpawnHart, type ThreadedRunLoop } from './hart-threads.ts';
import { NetPort } from './net-port.ts';
import { AgentPort } from './agent-port.ts';
import { parseMacAddress } from '../protocol/mac-address.ts';
import { PanicWatch } from '../host/panic-watch.ts';

/** What a runner gives the runtime. */
export interface RuntimeHost {
  /** The compiled CPU core for the boot request's mode (a shared memory needs the shared build). */
  readonly coreModule: WebAssembly.Module;
  /** Where the runtime reports (the page's Comlink proxy, or the Node runner's messages). */
  readonly events: VmEvents;
  /** Guest errors (bad MMIO, …), each logged once. */
  readonly log: LogSink;
  /** How chunked disks fetch their chunks (default: the global fetch). */
  readonly fetch?: (url: string) => Promise<Response>;
  /** Opens a disk file in place (`file` disks); a runner without files leaves it out and refuses them. */
  readonly openFile?: (path: string, readOnly: boolean) => BlockBackend;
  /** Opens a host directory as a share's tree (`directory` shares); a runner without one refuses them. */
  readonly openDirectory?: (path: string, readOnly: boolean) => FileTree;
  /** Called at the end of every run-loop turn, on the VM's thread (the Node runner's shared counters). */
  readonly onTurn?: () => void;
  /** Starts a hart's worker (VMs of more than one hart); a runner without workers leaves it out and refuses them. */
  readonly spawnHart?: SpawnHart;
}

/** The machine a runtime runs: one hart in this thread, or the device host of harts in workers of their own. */
type RuntimeMachine = Machine | ThreadedMachine;

const DEFAULT_SERIES = 'default';
const TICKS_PER_MS = TIMEBASE_FREQUENCY / 1000;

export class VmRuntime {
  readonly #host: RuntimeHost;
  readonly #channels: VmChannels;
  /** The console's sink outlives machines: a reset keeps what the guest printed but has not been sent. */
  readonly #consoleSink: StreamSink;
  /** The machine's console: the sink, watched for a kernel panic (a new watch for each machine). */
  #panicWatch: PanicWatch;
  /** The disks outlive machines too: a reset keeps what the guest wrote. */
  readonly #disks: readonly DiskConfig[];
  /** And the shares' trees: each machine gets its own 9p servers over them (fids are the guest's). */
  readonly #shares: readonly OpenShare[];
  /** The network card's port, on the `net` channel; it outlives machines (each reset plugs in its new card). */
  readonly #net: NetPort | undefined;
  /** The guest agent's port, on the `agent` channel (when the host declared one); it outlives machines too. */
  readonly #agent: AgentPort | undefined;
  readonly #shared: boolean;
  /** What a reset rebuilds the machine from: the images, with a restored snapshot's RAM size and bootargs. */
  #powerOn: VmBootRequest;
  #machine: RuntimeMachine;
  #loop: RunLoop | ThreadedRunLoop;
  /** The guest's CPUs: each machine of this runtime has as many. */
  readonly #harts: number;
  /** The run() in progress; reset() waits for it before building the next machine. */
  #running: Promise<void> = Promise.resolve();
  #instructionsBefore = 0;
  /** CPU time of the run loops a host reset replaced. */
  #cpuBefore = 0;
  #reboots = 0;
  #halted = false;
  /** Uptime bookkeeping: ms run before the current stretch, and when the current stretch began. */
  #uptimeBefore = 0;
  #stretchStart: number | undefined;
  /**
   * RAM's page fingerprints and the disks' overlay blocks at the last snapshot of each series
   * (VmSnapshotRequest.series; a restore counts as the default series): the bases a child snapshot can
   * have. A runtime started from the images has none, so its first snapshot is full.
   */
  readonly #fingerprints = new Map<string, SnapshotFingerprint>();

  private constructor(
    host: RuntimeHost,
    request: VmBootRequest,
    parts: {
      channels: VmChannels;
      sink: StreamSink;
      panicWatch: PanicWatch;
      disks: readonly DiskConfig[];
      shares: readonly OpenShare[];
      net: NetPort | undefined;
      agent: AgentPort | undefined;
      machine: RuntimeMachine;
      harts: number;
    },
  ) {
    this.#host = host;
    this.#shared = request.channels.mode === 'shared';
    this.#channels = parts.channels;
    this.#consoleSink = parts.sink;
    this.#panicWatch = parts.panicWatch;
    this.#disks = parts.disks;
    this.#shares = parts.shares;
    this.#net = parts.net;
    this.#agent = parts.agent;
    this.#machine = parts.machine;
    this.#harts = parts.harts;
    this.#powerOn = {
      ...request,
      ramBytes: parts.machine.config.ramSize,
      bootargs: parts.machine.config.bootargs,
      snapshot: undefined,
    };
    this.#loop = this.#makeLoop();
  }

  /** Builds the machine from the images (or the snapshot chain) and starts running it. */
  static async boot(request: VmBootRequest, host: RuntimeHost): Promise<VmRuntime> {
    const channels = openVmChannels(request.channels);
    const sink = new StreamSink(channels.console);
    const panicWatch = new PanicWatch(sink);
    const diskClient = new DiskClient(channels.disks);
    const disks = request.disks.map((disk, index) => openDisk(disk, index, host, diskClient));
    const shares = (request.shares ?? []).map((share) => openShare(share, host));
    const net = openNet(request, channels);
    const agent = channels.agent ? new AgentPort(channels.agent) : undefined;
    const spec = machineSpec(request, host, disks, shares, net, agent);
    const ports: MachinePorts = { console: panicWatch, log: host.log };
    const harts = hartCount(request, host);
    let machine: RuntimeMachine;
    let fingerprint: SnapshotFingerprint | undefined;
    if (request.snapshot) {
      ({ machine, fingerprint } = await restore(spec, request.snapshot, ports, harts, host));
      if (machine.config.ramSize !== request.ramBytes) {
        throw new Error(
          `the snapshot has ${machine.config.ramSize >> 20} MiB of RAM, the VM ${request.ramBytes >> 20} MiB`,
        );
      }
      // The guest has the size of the terminal the snapshot was taken in: tell it the one it is shown in now.
      if (request.consoleSize) machine.devices.console?.resize(request.consoleSize.cols, request.consoleSize.rows);
      // The card takes the VM's own address (docs/guest-agent.md): the host's agent then tells the guest.
      if (request.net) machine.devices.net?.setMac(parseMacAddress(request.net.mac));
    } else machine = powerOn(spec, ports, harts, host);
    const runtime = new VmRuntime(host, request, {
      channels,
      sink,
      panicWatch,
      disks,
      shares,
      net,
      agent,
      machine,
      harts,
    });
    if (fingerprint) runtime.#fingerprints.set(DEFAULT_SERIES, fingerprint);
    if (request.paused) runtime.#loop.pause();
    runtime.#start();
    if (request.paused) runtime.#endStretch();
    return runtime;
  }

  /** The host ports of the current machine, serviced by its run loop in this order. */
  #ports(): Port[] {
    const devices = this.#machine.devices;
    const ports: Port[] = [new ConsolePort(devices.uart, this.#channels.console, this.#consoleSink, devices.console)];
    if (this.#net) {
      this.#net.attach(devices.net);
      ports.push(this.#net);
    }
    if (this.#agent) {
      this.#agent.attach(devices.agent);
      ports.push(this.#agent);
    }
    return ports;
  }

  #makeLoop(): RunLoop | ThreadedRunLoop {
    const machine = this.#machine;
    const panicWatch = this.#panicWatch;
    let resets = machine.resets;
    const options: RunLoopOptions = {
      ports: this.#ports(),
      doorbell: this.#channels.doorbell,
      onSlice: () => {
        if (machine.resets !== resets) {
          resets = machine.resets;
          this.#reboots++;
          void this.#host.events.rebooted();
        }
      },
      onTurn: () => {
        this.#host.onTurn?.();
        if (panicWatch.settled) loop.stop();
      },
    };
    const loop = machine instanceof ThreadedMachine ? machine.loop(options) : new RunLoop(machine, options);
    return loop;
  }

  #start(): void {
    this.#stretchStart = performance.now();
    this.#running = this.#loop.run().then(
      async (halt) => {
        // Stopped without a halt: by the panic watch (onTurn), or by reset() or powerOff(), which report themselves.
        const panic = halt === undefined && !this.#halted ? this.#panicWatch.panic : undefined;
        if (halt === undefined && panic === undefined) return;
        this.#endStretch();
        this.#halted = true;
        await this.#settleDisks();
        void this.#host.events.halted(
          halt ? { reason: 'poweroff', exitCode: halt.exitCode } : { reason: 'panic', message: panic! },
        );
      },
      (error: unknown) => {
        this.#endStretch();
        this.#halted = true;
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        void this.#host.events.halted({ reason: 'error', message });
      },
    );
  }

  /** After a halt: requests in flight complete, and what the disks hold back is written (a file, an overlay). */
  async #settleDisks(): Promise<void> {
    try {
      await this.#machine.io.quiescent();
      for (const disk of this.#disks) await disk.backend.flush();
    } catch (error) {
      this.#host.log(
        `a disk could not be flushed at poweroff: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  #endStretch(): void {
    if (this.#stretchStart !== undefined) this.#uptimeBefore += performance.now() - this.#stretchStart;
    this.#stretchStart = undefined;
  }

  get machine(): RuntimeMachine {
    return this.#machine;
  }

  get halted(): boolean {
    return this.#halted;
  }

  /** Guest instructions retired since power-on (all machines of this runtime). */
  get instructions(): number {
    return this.#instructionsBefore + Number(this.#machine.hart.instret);
  }

  /**
   * Pauses the guest, captures it, resumes it (unless it was paused), then compresses the capture. Call
   * it between run-loop turns (this thread runs one or the other), so no slice is in progress.
   */
  async snapshot(request: VmSnapshotRequest): Promise<VmSnapshotResult> {
    if (this.#halted) throw new Error('the VM has stopped; there is nothing to snapshot');
    // Pausing stops guest time for the copy, so the guest does not see it.
    const loop = this.#loop;
    const wasPaused = loop.paused;
    const started = performance.now();
    let capture;
    try {
      // With harts in workers, this waits until every one is parked at the end of its slice.
      await loop.pause();
      // Block requests in flight complete first, so the disks' overlays agree with RAM.
      await this.#machine.io.quiescent();
      const parent = [...this.#fingerprints.values()].find((f) => f.id === request.parent);
      capture = captureSnapshot(this.#machine, { id: request.id, ...(parent ? { parent } : {}) });
    } finally {
      if (!wasPaused) loop.resume();
    }
    const pausedMs = performance.now() - started;
    this.#fingerprints.set(request.series ?? DEFAULT_SERIES, capture.fingerprint);
    const bytes = await encodeSnapshot(capture);
    return { bytes, id: capture.id, parent: capture.parent, pausedMs };
  }

  /**
   * The terminal the console is shown in has `cols` × `rows` cells: the virtio console's config and a
   * configuration change notification (docs/console.md); a reset powers on with this size.
   */
  resize(cols: number, rows: number): void {
    this.#powerOn = { ...this.#powerOn, consoleSize: { cols, rows } };
    this.#machine.devices.console?.resize(cols, rows);
  }

  pause(): void {
    if (this.#halted || this.#loop.paused) return;
    // Harts in workers park asynchronously; one that never does is said, and the VM stays as it is.
    this.#loop.pause()?.catch((error: unknown) =>
      this.#host.log(`the VM could not pause: ${error instanceof Error ? error.message : String(error)}`),
    );
    this.#endStretch();
  }

  resume(): void {
    if (this.#halted || !this.#loop.paused) return;
    this.#loop.resume();
    this.#stretchStart = performance.now();
  }

  /** Block requests in flight complete, then what the disks hold back is written (a VM about to move away). */
  async flushDisks(): Promise<void> {
    await this.#machine.io.quiescent();
    for (const disk of this.#disks) await disk.backend.flush();
  }

  /** A hardware reset: the images are reloaded and the hart starts again at the boot ROM. */
  async reset(): Promise<void> {
    const wasPaused = this.#loop.paused;
    this.#loop.stop();
    await this.#running;
    this.#instructionsBefore += Number(this.#machine.hart.instret);
    this.#cpuBefore += this.#loop.busyMs;
    this.#endStretch();
    this.#panicWatch = new PanicWatch(this.#consoleSink);
    this.#machine = powerOn(
      machineSpec(this.#powerOn, this.#host, this.#disks, this.#shares, this.#net, this.#agent),
      { console: this.#panicWatch, log: this.#host.log },
      this.#harts,
      this.#host,
    );
    this.#loop = this.#makeLoop();
    this.#halted = false;
    if (wasPaused) this.#loop.pause();
    this.#start();
    if (wasPaused) this.#endStretch();
  }

  /** Pulls the plug: the run loop ends and `halted({ reason: 'host' })` follows. */
  powerOff(): void {
    if (this.#halted) return;
    this.#halted = true;
    this.#loop.stop();
    this.#endStretch();
    void this.#running.then(() => this.#host.events.halted({ reason: 'host' }));
  }

  stats(): VmStats {
    const machine = this.#machine;
    const state = this.#halted ? 'halted' : this.#loop.paused ? 'paused' : machine.hart.waiting ? 'idle' : 'running';
    const uptimeMs =
      this.#uptimeBefore + (this.#stretchStart === undefined ? 0 : performance.now() - this.#stretchStart);
    return {
      state,
      instructions: this.instructions,
      uptimeMs,
      guestTimeMs: Number(machine.clock.ticks()) / TICKS_PER_MS,
      cpuMs: this.#cpuBefore + this.#loop.busyMs,
      reboots: this.#reboots,
      sharedMemory: this.#shared,
      harts: this.#harts,
    };
  }
}

function machineSpec(
  request: VmBootRequest,
  host: RuntimeHost,
  disks: readonly DiskConfig[],
  shares: readonly OpenShare[],
  net: NetPort | undefined,
  agent: AgentPort | undefined,
): MachineSpec {
  return {
    ramBytes: request.ramBytes,
    bootargs: request.bootargs,
    bios: request.bios,
    ...(request.kernel ? { kernel: request.kernel } : {}),
    ...(request.initrd ? { initrd: request.initrd } : {}),
    coreModule: host.coreModule,
    sharedMemory: request.channels.mode === 'shared',
    disks,
    shares: shares.map(({ tag, tree }): ShareConfig => ({ tag, port: new NinePServer(tree) })),
    ...(request.consoleSize ? { consoleSize: request.consoleSize } : {}),
    ...(request.net && net ? { net: { mac: parseMacAddress(request.net.mac), link: net } } : {}),
    ...(agent ? { agent: agent.sink } : {}),
  };
}

/** The network card's port, when the boot request has a card (its frames travel on the `net` channel). */
function openNet(request: VmBootRequest, channels: VmChannels): NetPort | undefined {
  if (!request.net) return undefined;
  if (!channels.net) throw new Error('the boot request has a network card but no net channel');
  return new NetPort(channels.net);
}

interface OpenShare {
  readonly tag: string;
  readonly tree: FileTree;
}

/** A share of the boot request: a host directory in place, a tree in memory, or a browser folder's handle. */
function openShare(request: VmShareRequest, host: RuntimeHost): OpenShare {
  const readOnly = request.readOnly === true;
  const source = request.source;
  if (source.kind === 'memory') return { tag: request.tag, tree: new MemoryTree({ readOnly }) };
  if (source.kind === 'handle') return { tag: request.tag, tree: new DirectoryHandleTree(source.handle, { readOnly }) };
  if (!host.openDirectory)
    throw new Error(`share ${request.tag}: this runner cannot open the directory ${source.path}`);
  return { tag: request.tag, tree: host.openDirectory(source.path, readOnly) };
}

/** The one place a runtime restores a machine from a snapshot chain, with as many harts as it was taken with. */
function restore(spec: MachineSpec, snapshot: SnapshotContents, ports: MachinePorts, harts: number, host: RuntimeHost) {
  const taken = snapshot.header.machine.harts;
  if (taken !== harts)
    throw new Error(`the snapshot was taken with ${cpus(taken)} and cannot be restored with ${cpus(harts)}`);
  if (harts === 1) return restoreMachine<RuntimeMachine>(spec, snapshot, ports);
  return restoreMachine<RuntimeMachine>(spec, snapshot, ports, (config, machinePorts, state) =>
    new ThreadedMachine(config, machinePorts, harts, host.spawnHart!, state),
  );
}

function cpus(count: number): string {
  return count === 1 ? '1 CPU' : `${count} CPUs`;
}

/** The boot request's harts, which a VM without shared memory cannot run apart: it gets one. */
function hartCount(request: VmBootRequest, host: RuntimeHost): number {
  const harts = request.harts ?? 1;
  if (!Number.isInteger(harts) || harts < 1 || harts > MAX_HARTS) throw new Error(`a VM has 1 to ${MAX_HARTS} CPUs, not ${harts}`);
  if (harts === 1 || request.channels.mode !== 'shared') return 1;
  if (!host.spawnHart) throw new Error('this runner cannot start a VM with more than one CPU');
  return harts;
}

/** A powered-on machine: one hart in this thread, or `harts` in workers of their own. */
function powerOn(spec: MachineSpec, ports: MachinePorts, harts: number, host: RuntimeHost): RuntimeMachine {
  if (harts === 1) return buildMachine(spec, ports);
  return new ThreadedMachine(machineConfig(spec), ports, harts, host.spawnHart!);
}

/**
 * Disk number `index` of the boot request: a file in place, or a base image under a copy-on-write
 * overlay whose writes and status go to the host over the `disks` channel.
 */
function openDisk(request: VmDiskRequest, index: number, host: RuntimeHost, client: DiskClient): DiskConfig {
  const readOnly = request.readOnly === true ? { readOnly: true } : {};
  const source = request.source;
  if (source.kind === 'file') {
    if (!host.openFile) throw new Error(`disk ${index}: this runner cannot open the file ${source.path}`);
    if (request.overlay.size > 0) throw new Error(`disk ${index}: a disk file is written in place and has no overlay`);
    return { backend: host.openFile(source.path, request.readOnly === true), ...readOnly };
  }
  const backend = openVmDisk(request, {
    diskWrites: (blocks) => client.writes(index, blocks),
    diskStatus: (status) => void client.status(index, status),
    ...(host.fetch ? { fetch: host.fetch } : {}),
  });
  return { backend, ...readOnly };
}
