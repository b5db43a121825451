/**
 * The device host's worker thread of the multi-hart runner: the machine's devices for `harts` harts (the
 * device tree, CLINT and PLIC contexts), its console on two rings, no hart of its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceHost } from '../../workers/machine/device-host.ts';
import { DeviceHostLoop, sharedGuestClock } from '../../workers/machine/threads.ts';
import { PanicWatch } from '../../workers/host/panic-watch.ts';
import { ByteRing } from '../../workers/protocol/ring.ts';
import type { SmpThreadData, SmpThreadMessage } from './thread-data.ts';

const data = workerData as SmpThreadData;
const post = (message: SmpThreadMessage): void => parentPort!.postMessage(message);
const output = new ByteRing(data.output);
let pending: number[] = [];
const watch = new PanicWatch({ write: (byte) => pending.push(byte) });
const host = new DeviceHost({
  config: { ...data.files, rngSeed: crypto.getRandomValues(new Uint8Array(32)) },
  ports: { console: watch },
  memory: data.memory,
  harts: data.harts,
  clock: sharedGuestClock(data.memory),
});

/** Passes the console's output on; what the ring cannot take now waits for the next turn. */
function flush(): void {
  if (pending.length === 0) return;
  const written = output.write(Uint8Array.from(pending));
  pending = pending.slice(written);
}

host.loadImages();
host.clock.resume();
post({ kind: 'ready', tohost: host.tohost });
let panicked = false;
const loop = new DeviceHostLoop(host, {
  input: new ByteRing(data.input),
  onTurn: () => {
    flush();
    if (watch.settled && !panicked) {
      panicked = true;
      post({ kind: 'panicked', message: watch.panic! });
    }
  },
});
const status = await loop.run();
flush();
if (status.kind === 'halted') post({ kind: 'halted', status });
