/**
 * The VM worker thread of the headless runner (scripts/vm.ts, scripts/lib/node-vm.ts): it hosts the VM
 * runtime (workers/runtime/vm-runtime.ts) and adapts it to Node's worker threads. Files are read here
 * (disk files in place, chunked images from their directory); the runtime's end and snapshots go to
 * the parent as messages; snapshot requests and the instruction count are counters in shared memory,
 * seen at the end of each run-loop turn (the loop's zero-delay yields keep Node from delivering
 * parentPort messages promptly while the guest runs).
 */
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { VmRuntime } from '../workers/runtime/vm-runtime.ts';
import type { SpawnHart } from '../workers/runtime/hart-threads.ts';
import type { VmBootRequest, VmEvents } from '../workers/protocol/vm-api.ts';
import { chunkedDiskIdentity } from '../workers/protocol/disk-image.ts';
import { FileDisk } from './lib/file-disk.ts';
import { HostDirectoryTree } from './lib/host-directory-tree.ts';

export interface NodeVmWorkerData {
  /** The boot request, as the browser's worker gets it (its channels are in the shared mode). */
  readonly request: VmBootRequest;
  readonly corePath: string;
  /** Float64Array: [0] = instructions retired, kept current by the run loop. */
  readonly stats: SharedArrayBuffer;
  /** Int32Array: [0] = snapshots requested so far (the runner adds one and rings the doorbell). */
  readonly snapshotRequests: SharedArrayBuffer;
  /**
   * Int32Array: [0] = the terminal's resizes so far, [1] = its columns, [2] = its rows (the runner writes
   * the size, adds one and rings the doorbell).
   */
  readonly consoleSize: SharedArrayBuffer;
}

export type NodeVmWorkerMessage =
  | { readonly kind: 'halted'; readonly exitCode: number; readonly reason: string }
  | { readonly kind: 'error'; readonly message: string }
  /** The guest kernel panicked; `message` is its panic line (workers/host/panic-watch.ts). */
  | { readonly kind: 'panicked'; readonly message: string }
  | { readonly kind: 'snapshot'; readonly bytes: Uint8Array }
  | { readonly kind: 'snapshot-failed'; readonly message: string };

const data = workerData as NodeVmWorkerData;
const post = (message: NodeVmWorkerMessage, transfer: ArrayBuffer[] = []): void =>
  parentPort!.postMessage(message, transfer);
const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** fetch() for file: URLs, which Node's fetch does not serve. */
async function readLocalFile(url: string): Promise<Response> {
  try {
    return new Response(await readFile(fileURLToPath(url)));
  } catch (error) {
    return new Response(String(error), { status: 404 });
  }
}

/**
 * What the runner adds to the request: a chunked image's identity (so that a snapshot restored over it
 * must have been taken over the same image), and a snapshot's own RAM size (scripts/vm.ts checked it
 * against --mem).
 */
async function completeRequest(request: VmBootRequest): Promise<VmBootRequest> {
  const disks = await Promise.all(
    request.disks.map(async (disk) =>
      disk.source.kind === 'chunked' && disk.image === undefined
        ? { ...disk, image: await chunkedDiskIdentity(disk.source.manifest) }
        : disk,
    ),
  );
  const ramBytes = request.snapshot ? request.snapshot.header.machine.ramSize : request.ramBytes;
  return { ...request, disks, ramBytes };
}

let runtime: VmRuntime | undefined;
const stats = new Float64Array(data.stats);
const requests = new Int32Array(data.snapshotRequests);
let snapshotsTaken = 0;
const consoleSize = new Int32Array(data.consoleSize);
let resizesSeen = 0;

/** A full snapshot (the file must stand alone); guest time stands still for the copy. */
function takeSnapshot(vm: VmRuntime): void {
  vm.snapshot({ id: randomUUID() }).then(
    ({ bytes }) => post({ kind: 'snapshot', bytes }, [bytes.buffer]),
    (error: unknown) => post({ kind: 'snapshot-failed', message: errorMessage(error) }),
  );
}

const events: VmEvents = {
  rebooted() {},
  halted(halt) {
    if (runtime) stats[0] = runtime.instructions;
    if (halt.reason === 'error') post({ kind: 'error', message: halt.message });
    else if (halt.reason === 'panic') post({ kind: 'panicked', message: halt.message });
    else post({ kind: 'halted', exitCode: halt.reason === 'poweroff' ? halt.exitCode : 0, reason: halt.reason });
  },
};

/** A hart's worker thread (scripts/smp/hart-thread.ts, through its entry that loads TypeScript). */
const spawnHart: SpawnHart = (hart, onError) => {
  const worker = new Worker(new URL('./smp/hart-thread.mjs', import.meta.url), { workerData: hart });
  worker.on('error', (error: Error) => onError(error.stack ?? error.message));
  return { terminate: () => void worker.terminate() };
};

try {
  runtime = await VmRuntime.boot(await completeRequest(data.request), {
    coreModule: new WebAssembly.Module(readFileSync(data.corePath)),
    events,
    log: (message) => process.stderr.write(`tabvm: guest error: ${message}\r\n`),
    fetch: readLocalFile,
    openFile: (path, readOnly) => new FileDisk(path, readOnly),
    openDirectory: (path, readOnly) => new HostDirectoryTree(path, readOnly),
    spawnHart,
    onTurn: () => {
      const vm = runtime;
      if (!vm) return; // the first turn runs before boot() returns
      stats[0] = vm.instructions;
      while (snapshotsTaken < Atomics.load(requests, 0)) {
        snapshotsTaken++;
        takeSnapshot(vm);
      }
      const resizes = Atomics.load(consoleSize, 0);
      if (resizes !== resizesSeen) {
        resizesSeen = resizes;
        vm.resize(Atomics.load(consoleSize, 1), Atomics.load(consoleSize, 2));
      }
    },
  });
} catch (error) {
  post({ kind: 'error', message: errorMessage(error) });
}
