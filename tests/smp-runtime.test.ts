// The VM runtime with several harts, hosted on this thread as a runner hosts it, its harts' workers
// from a spawnHart of the test's own: a hart worker that dies halts the VM with an error naming the CPU
// (the page shows it with Restart), as does one whose worker throws or stops answering, after which both
// harts' threads have ended and a reset boots again; a hart that never stops makes a snapshot fail in one sentence while
// the VM stays answerable; pause parks every hart and reset starts them again; and a snapshot of two harts is refused, in one sentence, by a runtime that
// would restore it with one (the compatibility mode, which has no shared memory for harts apart).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { defaultImage, repoRoot } from '../scripts/lib/in-process.ts';
import { VmRuntime, type RuntimeHost } from '../workers/runtime/vm-runtime.ts';
import { HART_STUCK_MS, type SpawnHart } from '../workers/runtime/hart-threads.ts';
import type { HartFault } from '../workers/machine/threads.ts';
import { createVmChannels } from '../workers/protocol/vm-channels.ts';
import type { ChannelMode } from '../workers/protocol/channels.ts';
import type { VmEvents, VmHalt } from '../workers/protocol/vm-api.ts';
import { decodeChain } from '../workers/protocol/snapshot-container.ts';

const { bios, kernel, initrd, bootargs } = defaultImage();
const core = (name: string) => new WebAssembly.Module(readFileSync(resolve(repoRoot, `workers/cpu/build/${name}`)));

/** Real hart worker threads, as the Node runner starts them. */
const threads: SpawnHart = (data, onError) => {
  const worker = new Worker(resolve(repoRoot, 'scripts/smp/hart-thread.mjs'), { workerData: data });
  worker.on('error', (error: Error) => onError(error.message));
  return { terminate: () => void worker.terminate() };
};

/**
 * Real hart worker threads as `threads` starts them, with `fault` injected into hart `faulty` of the first
 * machine only (a reset's machine runs clean); `exited` lists the harts whose threads have ended.
 */
function faultyThreads(faulty: number, fault: HartFault): { spawnHart: SpawnHart; exited: number[] } {
  const exited: number[] = [];
  let spawned = 0;
  const spawnHart: SpawnHart = (data, onError) => {
    const first = spawned++ < data.harts;
    const workerData = first && data.hartId === faulty ? { ...data, debugFault: fault } : data;
    const worker = new Worker(resolve(repoRoot, 'scripts/smp/hart-thread.mjs'), { workerData });
    worker.on('error', (error: Error) => onError(error.message));
    worker.on('exit', () => exited.push(data.hartId));
    return { terminate: () => void worker.terminate() };
  };
  return { spawnHart, exited };
}

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 50));
}

/**
 * After a hart's fault halted the VM: every hart's thread has ended, and the VM's thread (the device
 * host) still answers and boots a new machine on reset, whose harts run.
 */
async function expectRecovery(runtime: VmRuntime, exited: number[], halts: VmHalt[]): Promise<void> {
  await until(() => exited.length === 2);
  expect(exited.sort()).toEqual([0, 1]);
  expect(runtime.stats()).toMatchObject({ state: 'halted', harts: 2 });
  const before = runtime.instructions;
  await runtime.reset();
  expect(runtime.stats()).toMatchObject({ harts: 2 });
  await until(() => runtime.instructions > before + 5_000_000);
  runtime.powerOff();
  await until(() => halts.length === 2);
  expect(halts[1]).toEqual({ reason: 'host' });
}

async function boot(mode: ChannelMode, harts: number, spawnHart: SpawnHart, snapshot?: Uint8Array) {
  const channels = createVmChannels(mode);
  let halted!: (halt: VmHalt) => void;
  const halt = new Promise<VmHalt>((r) => (halted = r));
  /** Every halt reported, in order (`halt` is the first). */
  const halts: VmHalt[] = [];
  const events: VmEvents = {
    rebooted() {},
    halted(report) {
      halts.push(report);
      halted(report);
    },
  };
  const host: RuntimeHost = {
    coreModule: core(mode === 'shared' ? 'core.wasm' : 'core-unshared.wasm'),
    events,
    log: () => {},
    spawnHart,
  };
  const runtime = await VmRuntime.boot(
    {
      ramBytes: 128 << 20,
      bootargs,
      bios,
      kernel,
      initrd,
      channels: channels.wires,
      disks: [],
      harts,
      ...(snapshot ? { snapshot: await decodeChain([snapshot]) } : {}),
    },
    host,
  );
  return { runtime, halt, halts, channels };
}

describe('VmRuntime with several harts', () => {
  it('halts with an error naming the CPU whose worker died', async () => {
    const spawnHart: SpawnHart = (data, onError) => {
      if (data.hartId === 1) setTimeout(() => onError('RuntimeError: unreachable'), 100);
      return { terminate() {} };
    };
    const { runtime, halt } = await boot('shared', 2, spawnHart);
    expect(await halt).toEqual({ reason: 'error', message: 'Error: CPU 1 stopped: RuntimeError: unreachable' });
    expect(runtime.halted).toBe(true);
    expect(runtime.stats()).toMatchObject({ state: 'halted', harts: 2 });
  });

  it('halts with an error when a hart worker throws, ends the other, and boots again on reset', async () => {
    const { spawnHart, exited } = faultyThreads(0, { kind: 'crash', afterInstructions: 10_000_000 });
    const { runtime, halt, halts } = await boot('shared', 2, spawnHart);
    expect(await halt).toEqual({
      reason: 'error',
      message: 'Error: CPU 0 stopped: a crash injected for a test after 10000000 instructions',
    });
    await expectRecovery(runtime, exited, halts);
  }, 300_000);

  it('halts with an error when a hart worker stops answering in a slice, ends both, and boots again on reset', async () => {
    const { spawnHart, exited } = faultyThreads(0, { kind: 'hang', afterInstructions: 10_000_000 });
    const { runtime, halt, halts } = await boot('shared', 2, spawnHart);
    let halted = false;
    void halt.then(() => (halted = true));
    // While the hart hangs, the VM's thread goes on answering, and says the VM runs.
    await until(() => runtime.instructions > 10_000_000);
    const hung = performance.now();
    await new Promise((r) => setTimeout(r, 5_000));
    expect(runtime.stats()).toMatchObject({ state: expect.stringMatching(/^(running|idle)$/), harts: 2 });
    expect(halted).toBe(false);
    expect(await halt).toEqual({
      reason: 'error',
      message: `Error: CPU 0 stopped answering: its worker has been stuck for ${HART_STUCK_MS / 1000} s`,
    });
    // Not before the watch's time has passed since the hart stopped (10 M instructions are its first slices after it).
    expect(performance.now() - hung).toBeGreaterThan(HART_STUCK_MS - 5_000);
    await expectRecovery(runtime, exited, halts);
  }, 300_000);

  it('refuses a snapshot in one sentence when a CPU never stops, and keeps answering', async () => {
    // Workers that never run their hart: none ever parks for the pause.
    const { runtime, halt } = await boot('shared', 2, () => ({ terminate() {} }));
    await expect(runtime.snapshot({ id: 'stuck' })).rejects.toThrow('a CPU did not stop within 20 s');
    expect(runtime.stats()).toMatchObject({ state: 'running', harts: 2 });
    runtime.powerOff();
    expect(await halt).toEqual({ reason: 'host' });
  }, 60_000);

  it('pauses every hart and resumes them, and a reset powers on a new machine with both harts', async () => {
    const { runtime, halt } = await boot('shared', 2, threads);
    const until = async (done: () => boolean): Promise<void> => {
      while (!done()) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => runtime.instructions > 1_000_000);
    // The harts' threads count the time they ran the guest (the page's CPU figure).
    expect(runtime.stats().cpuMs).toBeGreaterThan(0);
    runtime.pause();
    await until(() => runtime.stats().state === 'paused');
    // Parked: the count stands still once the slices in progress ended, and so does the CPU time.
    await new Promise((r) => setTimeout(r, 500));
    const parked = runtime.instructions;
    const cpuParked = runtime.stats().cpuMs;
    await new Promise((r) => setTimeout(r, 500));
    expect(runtime.instructions).toBe(parked);
    expect(runtime.stats().cpuMs).toBe(cpuParked);
    runtime.resume();
    await until(() => runtime.instructions > parked);
    const beforeReset = runtime.instructions;
    const cpuBeforeReset = runtime.stats().cpuMs;
    await runtime.reset();
    expect(runtime.stats()).toMatchObject({ harts: 2, reboots: 0 });
    expect(runtime.stats().cpuMs).toBeGreaterThanOrEqual(cpuBeforeReset);
    // The count carries the machines before the reset, and grows again with the new one.
    await until(() => runtime.instructions > beforeReset + 1_000_000);
    runtime.powerOff();
    expect(await halt).toEqual({ reason: 'host' });
  }, 120_000);

  it('snapshots two harts in their threads, and a runtime with one CPU refuses the file in one sentence', async () => {
    const { runtime, halt } = await boot('shared', 2, threads);
    await new Promise((r) => setTimeout(r, 1000));
    const { bytes } = await runtime.snapshot({ id: 'two' });
    runtime.powerOff();
    await halt;
    expect((await decodeChain([bytes])).header.machine.harts).toBe(2);
    await expect(boot('message', 2, threads, bytes)).rejects.toThrow(
      'the snapshot was taken with 2 CPUs and cannot be restored with 1 CPU',
    );
    const restored = await boot('shared', 2, threads, bytes);
    expect(restored.runtime.stats()).toMatchObject({ harts: 2, sharedMemory: true });
    restored.runtime.powerOff();
    expect(await restored.halt).toEqual({ reason: 'host' });
  }, 120_000);
});
