/** The VM worker thread of the headless runner (scripts/vm.ts): builds the machine and runs it. */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { buildMachine } from '../workers/machine/build.ts';
import { RunLoop, RingSink } from '../workers/machine/run-loop.ts';
import { ByteRing, Doorbell } from '../workers/protocol/ring.ts';
import type { VmFiles } from './lib/vm-options.ts';
import { FileDisk } from './lib/file-disk.ts';

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
  const output = new RingSink(new ByteRing(data.output));
  const disks = (data.disks ?? []).map((disk) => ({ backend: new FileDisk(disk.path, disk.readOnly) }));
  const machine = buildMachine(
    {
      ...data,
      ramBytes: data.ramSize,
      coreModule: new WebAssembly.Module(readFileSync(data.corePath)),
      sharedMemory: true,
      disks,
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
  await machine.io.quiescent();
  for (const disk of disks) await disk.backend.flush();
  post({ kind: 'halted', exitCode: halted?.exitCode ?? 0, reason: halted?.reason ?? 'stopped' });
} catch (error) {
  post({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
}
