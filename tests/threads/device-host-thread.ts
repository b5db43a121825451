/** The device host's worker thread of tests/harts-threads.test.ts: the devices of the machine, no hart. */
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceHost } from '../../workers/machine/device-host.ts';
import { DeviceHostLoop, sharedGuestClock } from '../../workers/machine/threads.ts';
import { ByteRing } from '../../workers/protocol/ring.ts';
import type { ThreadData, ThreadMessage } from './thread-data.ts';

const data = workerData as ThreadData;
const post = (message: ThreadMessage): void => parentPort!.postMessage(message);
let output: number[] = [];
const host = new DeviceHost({
  config: { ...data.files, rngSeed: crypto.getRandomValues(new Uint8Array(32)) },
  ports: { console: { write: (byte) => output.push(byte) } },
  memory: data.memory,
  clock: sharedGuestClock(data.memory),
});
host.loadImages();
host.clock.resume();
post({ kind: 'ready' });
const loop = new DeviceHostLoop(host, {
  input: new ByteRing(data.input),
  onTurn: () => {
    if (output.length === 0) return;
    post({ kind: 'console', bytes: Uint8Array.from(output) });
    output = [];
  },
});
parentPort!.on('message', (request: 'save') => {
  if (request === 'save') void loop.pauseAndSave().then((saved) => post({ kind: 'saved', saved }));
});
const status = await loop.run();
if (status) post({ kind: 'halted', status });
// The thread ends when the test terminates it (the message listener keeps it alive).
