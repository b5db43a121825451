/** The hart's side of tests/threads/mmio-mailbox.test.ts: a few MMIO accesses through the mailbox. */
import { parentPort, workerData } from 'node:worker_threads';
import { MailboxBus } from '../../workers/machine/mmio-mailbox.ts';

const { memory, hartId } = workerData as { memory: WebAssembly.Memory; hartId: number };
const bus = new MailboxBus(memory, hartId);
const results = {
  wrote: bus.write(0x1000_0000, 0xffff_ffff_ffff_fff0n, 8),
  read: bus.read(0x1000_0000, 8),
  narrow: bus.read(0x1000_0004, 1),
  absentRead: bus.read(0x4000, 4),
  absentWrite: bus.write(0x4000, 1n, 4),
};
parentPort!.postMessage(results);
