/**
 * The browser VM worker: one dedicated module Worker per VM (DESIGN.md §1). It builds the Machine over a
 * WebAssembly.Memory of its own (shared when the page is cross-origin isolated), exposes the control API
 * of workers/protocol/vm-api.ts with Comlink, and runs the RunLoop. Console bytes use the page's
 * SharedArrayBuffer rings, or, in the fallback mode, local rings whose contents travel by message.
 */
import * as Comlink from 'comlink';
import type { DiskConfig, Machine } from './machine/machine.ts';
import { openVmDisk } from './host/block/open-disk.ts';
import { buildMachine, restoreMachine } from './machine/build.ts';
import { captureSnapshot, encodeSnapshot, type SnapshotFingerprint } from './machine/snapshot.ts';
import { RunLoop, RingSink } from './machine/run-loop.ts';
import { PanicWatch } from './host/panic-watch.ts';
import { TIMEBASE_FREQUENCY } from './machine/memory-map.ts';
import { ByteRing, Doorbell } from './protocol/ring.ts';
import {
  CONSOLE_INPUT_BYTES,
  CONSOLE_OUTPUT_BYTES,
  type VmBootRequest,
  type VmEvents,
  type VmSnapshotResult,
  type VmStats,
  type VmWorkerApi,
} from './protocol/vm-api.ts';

interface Session {
  request: VmBootRequest;
  /** The disk outlives machines: a reset() keeps what the guest wrote. */
  readonly disks: readonly DiskConfig[];
  readonly events: VmEvents;
  readonly coreModule: WebAssembly.Module;
  readonly input: ByteRing;
  readonly output: ByteRing;
  readonly sink: RingSink;
  /** The machine's console: the sink, watched for a kernel panic; a new one for each machine. */
  panicWatch: PanicWatch;
  readonly doorbell: Doorbell;
  readonly shared: boolean;
  machine: Machine;
  loop: RunLoop;
  /** The run() in progress; reset() waits for it before building the next machine. */
  running: Promise<void>;
  instructionsBefore: number;
  reboots: number;
  halted: boolean;
  /**
   * RAM's page fingerprints and the disks' overlay blocks at the last snapshot of each series
   * (VmSnapshotRequest.series; a restore counts as the default series): the bases a child snapshot can
   * have. A worker started from the images has none, so its first snapshot is full (also after Reset
   * disk, which needs the VM powered off).
   */
  readonly fingerprints: Map<string, SnapshotFingerprint>;
}

const DEFAULT_SERIES = 'default';
const TICKS_PER_MS = TIMEBASE_FREQUENCY / 1000;

let session: Session | undefined;
/** Uptime bookkeeping: ms run before the current stretch, and when the current stretch began. */
let uptimeBefore = 0;
let stretchStart: number | undefined;

async function loadCore(shared: boolean): Promise<WebAssembly.Module> {
  // A module whose memory import is shared refuses an unshared memory, so the fallback has its own build.
  const url = shared
    ? new URL('./cpu/build/core.wasm', import.meta.url)
    : new URL('./cpu/build/core-unshared.wasm', import.meta.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the CPU core ${url.pathname} could not be loaded (HTTP ${response.status})`);
  return WebAssembly.compile(await response.arrayBuffer());
}

/** The request's disk: its base image under a copy-on-write overlay whose new blocks go to the page. */
function openDisks(request: VmBootRequest, events: VmEvents): DiskConfig[] {
  if (!request.disk) return [];
  const backend = openVmDisk(request.disk, {
    diskWrites: (blocks) => events.diskWrites(blocks),
    diskStatus: (status) => void events.diskStatus(status),
  });
  return [{ backend, ...(request.disk.readOnly ? { readOnly: true } : {}) }];
}

function newMachine(s: Pick<Session, 'request' | 'coreModule' | 'panicWatch' | 'shared' | 'disks'>): Machine {
  return buildMachine(
    { ...s.request, coreModule: s.coreModule, sharedMemory: s.shared, disks: s.disks },
    machinePorts(s),
  );
}

function machinePorts(s: Pick<Session, 'panicWatch'>) {
  return { console: s.panicWatch, log: (message: string) => console.warn(`tabvm guest error: ${message}`) };
}

function makeLoop(s: Session): RunLoop {
  const machine = s.machine;
  let resets = machine.resets;
  const loop: RunLoop = new RunLoop(machine, {
    input: s.input,
    output: s.sink,
    doorbell: s.doorbell,
    onSlice: () => {
      if (machine.resets !== resets) {
        resets = machine.resets;
        s.reboots++;
        void s.events.rebooted();
      }
    },
    onTurn: () => {
      if (!s.shared && s.output.available() > 0) void s.events.output(s.output.read());
      if (s.panicWatch.settled) loop.stop();
    },
  });
  return loop;
}

function startRunning(s: Session): void {
  stretchStart = performance.now();
  s.running = s.loop.run().then(
    (halt) => {
      // Stopped without a halt: by the panic watch (onTurn), or by reset() or powerOff(), which report themselves.
      const panic = halt === undefined && !s.halted && s.panicWatch.settled ? s.panicWatch.panic : undefined;
      if (halt === undefined && panic === undefined) return;
      endStretch();
      s.halted = true;
      void s.events.halted(
        halt ? { reason: 'poweroff', exitCode: halt.exitCode } : { reason: 'panic', message: panic! },
      );
    },
    (error: unknown) => {
      endStretch();
      s.halted = true;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      void s.events.halted({ reason: 'error', message });
    },
  );
}

function endStretch(): void {
  if (stretchStart !== undefined) uptimeBefore += performance.now() - stretchStart;
  stretchStart = undefined;
}

function current(): Session {
  if (!session) throw new Error('the VM has not been booted');
  return session;
}

const api: VmWorkerApi = {
  async boot(request, events) {
    if (session) throw new Error('the VM is already booted');
    const shared = request.channels.mode === 'shared';
    const coreModule = await loadCore(shared);
    const channels = request.channels;
    const input =
      channels.mode === 'shared' ? new ByteRing(channels.input) : ByteRing.create(CONSOLE_INPUT_BYTES, false);
    const output =
      channels.mode === 'shared' ? new ByteRing(channels.output) : ByteRing.create(CONSOLE_OUTPUT_BYTES, false);
    const doorbell = channels.mode === 'shared' ? new Doorbell(channels.doorbell) : new Doorbell(new ArrayBuffer(4));
    const sink = new RingSink(output);
    const base = { request, coreModule, sink, panicWatch: new PanicWatch(sink), shared, disks: openDisks(request, events) };
    let machine: Machine;
    let fingerprint: SnapshotFingerprint | undefined;
    if (request.snapshot) {
      ({ machine, fingerprint } = await restoreMachine(
        { ...request, coreModule, sharedMemory: shared, disks: base.disks },
        request.snapshot,
        machinePorts(base),
      ));
      if (machine.config.ramSize !== request.ramBytes) {
        throw new Error(
          `the snapshot has ${machine.config.ramSize >> 20} MiB of RAM, the VM ${request.ramBytes >> 20} MiB`,
        );
      }
    } else machine = newMachine(base);
    const s: Session = {
      ...base,
      events,
      input,
      output,
      doorbell,
      machine,
      loop: undefined as unknown as RunLoop,
      running: Promise.resolve(),
      instructionsBefore: 0,
      reboots: 0,
      halted: false,
      fingerprints: new Map(),
    };
    if (fingerprint) s.fingerprints.set(DEFAULT_SERIES, fingerprint);
    // A reset() rebuilds the machine from the images with the snapshot's bootargs.
    s.request = { ...request, bootargs: machine.config.bootargs, snapshot: undefined };
    s.loop = makeLoop(s);
    session = s;
    startRunning(s);
  },

  async snapshot(request) {
    const s = current();
    if (s.halted) throw new Error('the VM has stopped; there is nothing to snapshot');
    // Called between run-loop turns (this thread runs one or the other), so no slice is in progress.
    // Pausing stops guest time for the copy, so the guest does not see it.
    const wasPaused = s.loop.paused;
    const started = performance.now();
    s.loop.pause();
    let capture;
    try {
      // Block requests in flight complete first, so the disks' overlays agree with RAM.
      await s.machine.io.quiescent();
      const parent = [...s.fingerprints.values()].find((f) => f.id === request.parent);
      capture = captureSnapshot(s.machine, { id: request.id, ...(parent ? { parent } : {}) });
    } finally {
      if (!wasPaused) s.loop.resume();
    }
    const pausedMs = performance.now() - started;
    s.fingerprints.set(request.series ?? DEFAULT_SERIES, capture.fingerprint);
    const bytes = await encodeSnapshot(capture);
    const result: VmSnapshotResult = { bytes, id: capture.id, parent: capture.parent, pausedMs };
    return Comlink.transfer(result, [bytes.buffer]);
  },

  pause() {
    const s = current();
    if (s.halted || s.loop.paused) return;
    s.loop.pause();
    endStretch();
  },

  resume() {
    const s = current();
    if (s.halted || !s.loop.paused) return;
    s.loop.resume();
    stretchStart = performance.now();
  },

  async reset() {
    const s = current();
    const wasPaused = s.loop.paused;
    s.loop.stop();
    await s.running;
    s.instructionsBefore += Number(s.machine.hart.instret);
    endStretch();
    s.panicWatch = new PanicWatch(s.sink);
    s.machine = newMachine(s);
    s.loop = makeLoop(s);
    s.halted = false;
    if (wasPaused) s.loop.pause();
    startRunning(s);
    if (wasPaused) endStretch();
  },

  powerOff() {
    const s = current();
    if (s.halted) return;
    s.halted = true;
    s.loop.stop();
    endStretch();
    void s.running.then(() => s.events.halted({ reason: 'host' }));
  },

  stats(): VmStats {
    const s = current();
    const state = s.halted ? 'halted' : s.loop.paused ? 'paused' : s.machine.hart.waiting ? 'idle' : 'running';
    const uptimeMs = uptimeBefore + (stretchStart === undefined ? 0 : performance.now() - stretchStart);
    return {
      state,
      instructions: s.instructionsBefore + Number(s.machine.hart.instret),
      uptimeMs,
      guestTimeMs: Number(s.machine.clock.ticks()) / TICKS_PER_MS,
      reboots: s.reboots,
      sharedMemory: s.shared,
    };
  },

  input(bytes) {
    const s = current();
    const n = s.input.write(bytes);
    s.doorbell.ring();
    return n;
  },
};

Comlink.expose(api);
