/**
 * A VM with several harts (`npm run vm -- --smp N`), each in a Node worker thread of its own over one
 * shared VM memory, and its devices in another (workers/machine/threads.ts, docs/harts.md). The console
 * crosses on two byte rings; the guest's halt or panic comes by message. Opt-in: one hart runs in
 * NodeVm (node-vm.ts) as before. No disks, shares or snapshots yet.
 */
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { createVmMemory } from '../../workers/cpu/core.ts';
import { ringDeviceHost } from '../../workers/machine/mmio-mailbox.ts';
import { ByteRing } from '../../workers/protocol/ring.ts';
import type { SmpThreadData, SmpThreadMessage } from '../smp/thread-data.ts';
import type { VmEnd } from './node-vm.ts';
import type { VmFiles } from './vm-options.ts';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const ENTRY = new URL('../smp/thread-entry.mjs', import.meta.url);
const CONSOLE_RING_BYTES = 1 << 16;

/** What Ctrl-A S answers with more than one hart: no file rather than a wrong one. */
export const SMP_SNAPSHOT_REFUSAL = 'snapshots of a VM with more than one CPU are not supported yet';

export class SmpNodeVm {
  /** The console's guest→host ring. */
  readonly output = ByteRing.create(CONSOLE_RING_BYTES);
  readonly ended: Promise<VmEnd>;
  readonly #input = ByteRing.create(4096);
  readonly #memory: WebAssembly.Memory;
  readonly #workers: Worker[] = [];

  constructor(files: VmFiles, harts: number) {
    this.#memory = createVmMemory(files.ramSize, true);
    const { bios, kernel, initrd, bootargs, ramSize } = files;
    const common: Omit<SmpThreadData, 'program' | 'hartId'> = {
      memory: this.#memory,
      coreModule: new WebAssembly.Module(readFileSync(resolve(root, 'workers/cpu/build/core.wasm'))),
      harts,
      files: { bios, ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}), bootargs, ramSize },
      input: this.#input.buffer as SharedArrayBuffer,
      output: this.output.buffer as SharedArrayBuffer,
    };
    const program = (name: string): string => new URL(`../smp/${name}`, import.meta.url).href;
    this.ended = new Promise((end) => {
      const start = (data: SmpThreadData): void => {
        const worker = new Worker(ENTRY, { workerData: data });
        this.#workers.push(worker);
        worker.on('message', (message: SmpThreadMessage) => {
          // The harts start once the device host has put the images in RAM.
          if (message.kind === 'ready') {
            const tohost = message.tohost === undefined ? {} : { tohost: message.tohost };
            for (let hartId = 0; hartId < harts; hartId++) start({ ...common, ...tohost, hartId, program: program('hart-thread.ts') });
          }
          else if (message.kind === 'halted') end({ kind: 'halted', exitCode: message.status.exitCode });
          else if (message.kind === 'panicked') end(message);
        });
        worker.on('error', (error: Error) => end({ kind: 'error', message: `a VM thread crashed: ${error.stack ?? error.message}` }));
      };
      start({ ...common, hartId: 0, program: program('device-host-thread.ts') });
    });
  }

  /** Console input; bytes the ring cannot take now are dropped, as on a serial line without flow control. */
  send(bytes: Uint8Array): void {
    this.#input.write(bytes);
    ringDeviceHost(this.#memory);
  }

  snapshot(): Promise<Uint8Array> {
    return Promise.reject(new Error(SMP_SNAPSHOT_REFUSAL));
  }

  async terminate(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}
