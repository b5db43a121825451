/** The VM worker thread of the headless runner (scripts/vm.ts): builds the machine and runs it. */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildMachine, restoreMachine } from '../workers/machine/build.ts';
import { captureSnapshot, encodeSnapshot } from '../workers/machine/snapshot.ts';
import { RunLoop, RingSink } from '../workers/machine/run-loop.ts';
import { ByteRing, Doorbell } from '../workers/protocol/ring.ts';
import type { DiskSpec, VmFiles } from './lib/vm-options.ts';
import type { BlockBackend } from '../workers/host/block/backend.ts';
import { openVmDisk } from '../workers/host/block/open-disk.ts';
import { FileDisk } from './lib/file-disk.ts';
import { chunkedDiskIdentity } from '../workers/protocol/disk-image.ts';
import { PanicWatch } from '../workers/host/panic-watch.ts';

export interface NodeVmWorkerData extends VmFiles {
  readonly corePath: string;
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
  readonly doorbell: SharedArrayBuffer;
  /** Float64Array: [0] = instructions retired, kept current by the run loop. */
  readonly stats: SharedArrayBuffer;
  /** Int32Array: [0] = snapshots requested so far (the runner adds one and rings the doorbell). */
  readonly snapshotRequests: SharedArrayBuffer;
  /** Start from this snapshot file (checked by the caller) instead of powering on. */
  readonly snapshot?: Uint8Array;
}

export type NodeVmWorkerMessage =
  | { readonly kind: 'halted'; readonly exitCode: number; readonly reason: string }
  | { readonly kind: 'error'; readonly message: string }
  /** The guest kernel panicked; `message` is its panic line (workers/host/panic-watch.ts). */
  | { readonly kind: 'panicked'; readonly message: string }
  | { readonly kind: 'snapshot'; readonly bytes: Uint8Array }
  | { readonly kind: 'snapshot-failed'; readonly message: string };

const data = workerData as NodeVmWorkerData;

/**
 * A raw file in place, or a chunked image's directory under an overlay kept in memory, named by its
 * identity so that a snapshot restored over it must have been taken over the same image.
 */
async function openDisk(disk: DiskSpec): Promise<BlockBackend> {
  if (!disk.chunked) return new FileDisk(disk.path, disk.readOnly);
  const source = { kind: 'chunked', baseUrl: pathToFileURL(disk.path).href, manifest: disk.chunked } as const;
  const image = await chunkedDiskIdentity(disk.chunked);
  return openVmDisk({ source, overlay: new Map(), image }, { fetch: readLocalFile });
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
  const disks = await Promise.all(
    (data.disks ?? []).map(async (disk) => ({
      backend: await openDisk(disk),
      readOnly: disk.readOnly || disk.chunked?.readOnly === true,
    })),
  );
  const spec = { ...data, coreModule: new WebAssembly.Module(readFileSync(data.corePath)), sharedMemory: true, disks };
  const panicWatch = new PanicWatch(output);
  const ports = {
    console: panicWatch,
    log: (message: string) => process.stderr.write(`tabvm: guest error: ${message}\r\n`),
  };
  const machine = data.snapshot
    ? (await restoreMachine(spec, data.snapshot, ports)).machine
    : buildMachine({ ...spec, ramBytes: data.ramSize }, ports);
  const stats = new Float64Array(data.stats);
  const requests = new Int32Array(data.snapshotRequests);
  let snapshotsTaken = 0;
  // Snapshots on request (Ctrl-A S), at the end of a run-loop turn, where no slice is in progress; guest
  // time stands still for the copy. Always full: the file must stand alone. (A counter in shared memory,
  // not a message: the run loop's zero-delay yields keep Node from delivering parentPort messages.)
  const takeSnapshot = async (): Promise<void> => {
    const wasPaused = loop.paused;
    loop.pause();
    let capture;
    try {
      // Block requests in flight complete first, so the disks' overlays agree with RAM.
      await machine.io.quiescent();
      capture = captureSnapshot(machine);
    } catch (error) {
      post({ kind: 'snapshot-failed', message: error instanceof Error ? error.message : String(error) });
      return;
    } finally {
      if (!wasPaused) loop.resume();
    }
    void encodeSnapshot(capture).then(
      (bytes) => parentPort!.postMessage({ kind: 'snapshot', bytes } satisfies NodeVmWorkerMessage, [bytes.buffer]),
      (error: unknown) =>
        post({ kind: 'snapshot-failed', message: error instanceof Error ? error.message : String(error) }),
    );
  };
  const loop: RunLoop = new RunLoop(machine, {
    onTurn: () => {
      if (panicWatch.settled) loop.stop();
      while (snapshotsTaken < Atomics.load(requests, 0)) {
        snapshotsTaken++;
        void takeSnapshot();
      }
    },
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
  if (!halted && panicWatch.panic !== undefined) post({ kind: 'panicked', message: panicWatch.panic });
  else post({ kind: 'halted', exitCode: halted?.exitCode ?? 0, reason: halted?.reason ?? 'stopped' });
} catch (error) {
  post({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
}
