/** The VM worker thread of the headless runner (scripts/vm.ts): builds the machine and runs it. */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildMachine } from '../workers/machine/build.ts';
import { RunLoop, RingSink } from '../workers/machine/run-loop.ts';
import { ByteRing, Doorbell } from '../workers/protocol/ring.ts';
import type { DiskSpec, VmFiles } from './lib/vm-options.ts';
import type { BlockBackend } from '../workers/host/block/backend.ts';
import { openVmDisk } from '../workers/host/block/open-disk.ts';
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

/** A raw file in place, or a chunked image's directory under an overlay kept in memory. */
function openDisk(disk: DiskSpec): BlockBackend {
  if (!disk.chunked) return new FileDisk(disk.path, disk.readOnly);
  const source = { kind: 'chunked', baseUrl: pathToFileURL(disk.path).href, manifest: disk.chunked } as const;
  return openVmDisk({ source, overlay: new Map() }, { fetch: readLocalFile });
}

/** fetch() for file: URLs, which Node's fetch does not serve. */
async function readLocalFile(url: string): Promise<Response> {
  try {
    return new Response(await readFile(fileURLToPath(url)));
  } catch (error) {
    return new Response(String(error), { status: 404 });
  }
}
const post = (message: NodeVmWorkerMessage): void => parentPort!.postMessage(message);

try {
  const output = new RingSink(new ByteRing(data.output));
  const disks = (data.disks ?? []).map((disk) => ({
    backend: openDisk(disk),
    readOnly: disk.readOnly || disk.chunked?.readOnly === true,
  }));
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
