// The hart apart from the devices (docs/harts.md): the committed default image boots with its one hart in
// one Node worker thread and the device host in another, over one shared memory — every MMIO access a
// mailbox round trip, every interrupt an atomic mip update and a wake-up, guest time one shared epoch —
// to its shell, answers a command, is saved (and the copy continues in a one-thread Machine), reboots,
// and powers off.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { createVmMemory } from '../workers/cpu/core.ts';
import { ringDeviceHost } from '../workers/machine/mmio-mailbox.ts';
import { ByteRing } from '../workers/protocol/ring.ts';
import { TextConsole } from '../scripts/lib/console-session.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import type { MachineStatus } from '../workers/machine/device-host.ts';
import { Machine } from '../workers/machine/machine.ts';
import type { SavedThreadedMachine } from '../workers/machine/threads.ts';
import type { ThreadData, ThreadMessage } from './threads/thread-data.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';

/** The two threads of one machine, and its console. */
const files = resolveVmFiles({}, resolve(root, 'public/images'));
const coreModule = new WebAssembly.Module(readFileSync(resolve(root, 'workers/cpu/build/core.wasm')));

class TwoThreadVm extends TextConsole {
  readonly #memory: WebAssembly.Memory;
  readonly #input = ByteRing.create(4096);
  readonly #workers: Worker[] = [];
  #halted: MachineStatus | undefined;
  #hartStopped = false;
  #failure: Error | undefined;

  constructor() {
    super();
    this.#memory = createVmMemory(files.ramSize, true);
    const common = {
      memory: this.#memory,
      coreModule,
      files,
      input: this.#input.buffer as SharedArrayBuffer,
    };
    // The device host loads the images first; the hart starts once they are in RAM.
    this.#start({ ...common, program: new URL('./threads/device-host-thread.ts', import.meta.url).href }, (message) => {
      if (message.kind === 'ready')
        this.#start({ ...common, program: new URL('./threads/hart-thread.ts', import.meta.url).href }, () => {});
    });
  }

  #start(data: ThreadData, onMessage: (message: ThreadMessage) => void): void {
    const worker = new Worker(new URL('./threads/entry.mjs', import.meta.url), { workerData: data });
    this.#workers.push(worker);
    worker.on('message', (message: ThreadMessage) => {
      if (message.kind === 'console') this.append(new TextDecoder().decode(message.bytes));
      else if (message.kind === 'halted') this.#halted = message.status;
      else if (message.kind === 'hart-stopped') this.#hartStopped = true;
      onMessage(message);
      this.wake();
    });
    worker.on('error', (error: unknown) => {
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.wake();
    });
  }

  get exited(): boolean {
    return this.#failure !== undefined || (this.#halted !== undefined && this.#hartStopped);
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  type(text: string): void {
    const bytes = new TextEncoder().encode(text);
    if (this.#input.write(bytes) !== bytes.length) throw new Error('console input ring full');
    ringDeviceHost(this.#memory);
  }

  /** Asks the device host's thread to pause the hart and save the machine. */
  save(): Promise<SavedThreadedMachine> {
    const device = this.#workers[0]!;
    return new Promise((resolve) => {
      const take = (message: ThreadMessage): void => {
        if (message.kind !== 'saved') return;
        device.off('message', take);
        resolve(message.saved);
      };
      device.on('message', take);
      device.postMessage('save');
    });
  }

  /** The status the device host halted with, once both threads are done. */
  async halted(timeoutMs: number): Promise<MachineStatus | undefined> {
    const end = Date.now() + timeoutMs;
    while (!this.exited && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return this.#halted;
  }

  async terminate(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

describe('a hart in one worker thread, the devices in another', () => {
  it('boots the default image to its shell, answers a command, is saved and continued in one thread, reboots and powers off', async () => {
    const vm = new TwoThreadVm();
    try {
      let at = await vm.waitFor(PROMPT, 400_000);
      // The marker is computed by the shell, so the echo of the typed line cannot match it.
      vm.type('echo $((6*7)); uname -m; echo DONE-$((40+2))\n');
      const end = await vm.waitFor('DONE-42', 60_000, at);
      const lines = vm.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
      expect(lines).toContain('42');
      expect(lines).toContain('riscv64');
      at = await vm.waitFor(PROMPT, 10_000, end);
      // Saved from the two threads, the machine continues in one: the same MachineState.
      const saved = await vm.save();
      expect(saved.state.cpu).toHaveLength(1);
      let copyOutput = '';
      const { bios, kernel, initrd, bootargs, ramSize } = files;
      const copy = new Machine(
        { bios, ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}), bootargs, ramSize, sharedMemory: true, coreModule },
        { console: { write: (byte) => (copyOutput += String.fromCharCode(byte)) } },
        saved.state,
      );
      copy.ram.set(saved.ram);
      // The UART takes 16 bytes at a time (its FIFO); the rest waits for the guest to read.
      let input = new TextEncoder().encode('echo $((6*8))-COPY\n');
      const deadline = Date.now() + 60_000;
      while (!copyOutput.includes('48-COPY') && Date.now() < deadline) {
        input = input.subarray(copy.receiveInput(input));
        copy.runSlice();
      }
      expect(copyOutput).toContain('48-COPY');
      // … and the original goes on after its pause.
      vm.type('echo $((6*9))-ORIGINAL\n');
      at = await vm.waitFor('54-ORIGINAL', 60_000, at);
      at = await vm.waitFor(PROMPT, 10_000, at);
      // A guest reboot: the device host asks the hart to stop, reloads the images once it has, and the
      // hart starts again from the boot ROM.
      vm.type('reboot\n');
      at = await vm.waitFor('Welcome to tabvm', 400_000, at);
      at = await vm.waitFor(PROMPT, 400_000, at);
      vm.type('poweroff\n');
      expect(await vm.halted(60_000)).toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
      expect(vm.failure).toBeUndefined();
    } finally {
      await vm.terminate();
    }
  }, 600_000);
});
