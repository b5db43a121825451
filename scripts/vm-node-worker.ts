/** The VM worker thread of the headless runner (scripts/vm.ts): builds the machine and runs it. */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { Machine } from '../workers/machine/machine.ts';
import { RunLoop, RingSink } from '../workers/machine/run-loop.ts';
import { ByteRing, Doorbell } from '../workers/protocol/ring.ts';
import type { VmFiles } from './lib/vm-options.ts';

export interface NodeVmWorkerData extends VmFiles {
  readonly corePath: string;
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
  readonly doorbell: SharedArrayBuffer;
  /** Float64Array: [0] = instructions retired, kept current by the run loop. */
  readonly stats: SharedArrayBuffer;
}

export type NodeVmWorkerMessage =
  | { readonly kind: 'halted'; readonly exitCode: number; readonly reason: string }
  | { readonly kind: 'error'; readonly message: string };

const data = workerData as NodeVmWorkerData;
const post = (message: NodeVmWorkerMessage): void => parentPort!.postMessage(message);

try {
  const coreModule = new WebAssembly.Module(readFileSync(data.corePath));
  const output = new RingSink(new ByteRing(data.output));
  const machine = new Machine(
    {
      ramSize: data.ramSize,
      bios: data.bios,
      ...(data.kernel ? { kernel: data.kernel } : {}),
      ...(data.initrd ? { initrd: data.initrd } : {}),
      bootargs: data.bootargs,
      sharedMemory: true,
      coreModule,
      rngSeed: webcrypto.getRandomValues(new Uint8Array(32)),
    },
    { console: output, log: (message) => process.stderr.write(`tabvm: guest error: ${message}\r\n`) },
  );
  const stats = new Float64Array(data.stats);
  const loop = new RunLoop(machine, {
    input: new ByteRing(data.input),
    output,
    doorbell: new Doorbell(data.doorbell),
    onSlice: () => {
      stats[0] = Number(machine.hart.instret);
    },
  });
  const halted = await loop.run();
  post({ kind: 'halted', exitCode: halted?.exitCode ?? 0, reason: halted?.reason ?? 'stopped' });
} catch (error) {
  post({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
}
