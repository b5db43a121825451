// MMIO between threads (workers/machine/mmio-mailbox.ts): harts in worker threads reach a bus in this
// thread through their mailboxes; values keep all 64 bits, and an address no device answers is an
// access fault on the hart's side, not an error.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { createVmMemory, type PhysicalBus } from '../../workers/cpu/core.ts';
import { MailboxServer } from '../../workers/machine/mmio-mailbox.ts';

/** A bus with one device: 16 bytes of registers at 0x1000_0000 that remember every write. */
function registerBus(): { bus: PhysicalBus; log: string[] } {
  const log: string[] = [];
  const registers = new DataView(new ArrayBuffer(16));
  const inside = (addr: number): boolean => addr >= 0x1000_0000 && addr < 0x1000_0010;
  return {
    log,
    bus: {
      read(addr, size) {
        if (!inside(addr)) return undefined;
        log.push(`read ${size}@${(addr - 0x1000_0000).toString(16)}`);
        const at = addr - 0x1000_0000;
        return size === 8 ? registers.getBigUint64(at, true) : BigInt(registers.getUint8(at));
      },
      write(addr, value, size) {
        if (!inside(addr)) return false;
        log.push(`write ${size}@${(addr - 0x1000_0000).toString(16)}`);
        registers.setBigUint64(addr - 0x1000_0000, value, true);
        return true;
      },
      // Registers hold no code: a fetch is refused (an instruction access fault).
      fetch: () => undefined,
    },
  };
}

describe('MMIO mailboxes', () => {
  it('carry a hart thread\'s reads and writes to the device host\'s bus and back', async () => {
    const memory = createVmMemory(1 << 20, true);
    const { bus, log } = registerBus();
    const server = new MailboxServer(memory, 1);
    const worker = new Worker(new URL('./entry.mjs', import.meta.url), {
      workerData: { program: new URL('./mailbox-client-thread.ts', import.meta.url).href, memory, hartId: 0 },
    });
    const results = new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let done = false;
    void results.finally(() => (done = true));
    try {
      while (!done) {
        const seen = server.doorbell;
        server.serve(bus);
        await server.sleep(seen, 20);
      }
      expect(await results).toEqual({
        wrote: true,
        read: 0xffff_ffff_ffff_fff0n,
        narrow: 0xffn,
        absentRead: undefined,
        absentWrite: false,
      });
      expect(log).toEqual(['write 8@0', 'read 8@0', 'read 1@4']);
    } finally {
      await worker.terminate();
    }
  });

  it('refuse an unshared memory, which no other thread could see', () => {
    expect(() => new MailboxServer(createVmMemory(1 << 20, false), 1)).toThrow(/not shared/);
  });
});
