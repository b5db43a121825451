import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { ByteRing, Doorbell, waitAsync } from './ring.ts';

describe('ByteRing', () => {
  it('works the same over a plain ArrayBuffer (the fallback mode)', () => {
    const ring = ByteRing.create(4, false);
    expect(ring.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    ring.writeByte(0x41);
    expect(ring.readByte()).toBe(0x41);
  });
});

describe('Doorbell', () => {
  it('blocks only over shared memory', () => {
    expect(new Doorbell(new SharedArrayBuffer(4)).canBlock).toBe(true);
    expect(new Doorbell(new ArrayBuffer(4)).canBlock).toBe(false);
  });

  it('unshared: wait() ends early when rung on the same thread', async () => {
    const bell = new Doorbell(new ArrayBuffer(4));
    const seen = bell.value();
    const start = performance.now();
    setTimeout(() => bell.ring(), 20);
    await bell.wait(seen, 2000);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(15);
    expect(elapsed).toBeLessThan(500);
    expect(bell.value()).toBe(seen + 1);
  });

  it('unshared: wait() ends after its timeout when nobody rings', async () => {
    const bell = new Doorbell(new ArrayBuffer(4));
    const start = performance.now();
    await bell.wait(bell.value(), 60);
    expect(performance.now() - start).toBeGreaterThanOrEqual(55);
  });

  it('wait() returns at once when the bell already rang after `seen`', async () => {
    for (const buffer of [new ArrayBuffer(4), new SharedArrayBuffer(4)]) {
      const bell = new Doorbell(buffer);
      const seen = bell.value();
      bell.ring();
      const start = performance.now();
      await bell.wait(seen, 5000);
      expect(performance.now() - start).toBeLessThan(100);
    }
  });

  it('shared: wait() ends early when rung', async () => {
    const bell = new Doorbell(new SharedArrayBuffer(4));
    const seen = bell.value();
    setTimeout(() => bell.ring(), 20);
    const start = performance.now();
    await bell.wait(seen, 5000);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});


describe('ByteRing over shared memory', () => {
  it('refuses a capacity that is not a power of two', () => {
    expect(() => ByteRing.create(100)).toThrow(/power of two/);
  });

  it('moves bytes in order and reports fill level and room', () => {
    const ring = ByteRing.create(8);
    expect(ring.write(Uint8Array.of(1, 2, 3))).toBe(3);
    expect(ring.available()).toBe(3);
    expect(ring.free()).toBe(5);
    expect(ring.readByte()).toBe(1);
    expect([...ring.read()]).toEqual([2, 3]);
    expect(ring.readByte()).toBe(-1);
  });

  it('writes only what fits and keeps the rest with the caller', () => {
    const ring = ByteRing.create(4);
    expect(ring.write(Uint8Array.of(1, 2, 3, 4, 5, 6))).toBe(4);
    expect(ring.writeByte(7)).toBe(false);
    expect([...ring.read(2)]).toEqual([1, 2]);
    expect(ring.writeByte(7)).toBe(true);
    expect([...ring.read()]).toEqual([3, 4, 7]);
  });

  it('wraps around its buffer and its 32-bit counters', () => {
    const ring = ByteRing.create(4);
    const header = new Int32Array(ring.buffer, 0, 2);
    header[0] = 0x7fff_fffe; // both counters just below the signed 32-bit limit
    header[1] = 0x7fff_fffe;
    for (let round = 0; round < 10; round++) {
      expect(ring.write(Uint8Array.of(round, round + 1, round + 2))).toBe(3);
      expect([...ring.read()]).toEqual([round, round + 1, round + 2]);
    }
    expect(ring.available()).toBe(0);
  });

  it('carries bytes between threads over a SharedArrayBuffer and wakes a waiting reader', async () => {
    const ring = ByteRing.create(16);
    const seen = ring.writeCount();
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const header = new Int32Array(workerData, 0, 2);
       const data = new Uint8Array(workerData, 8, 16);
       const text = Buffer.from('hello from a worker');
       let sent = 0;
       while (sent < text.length) {
         const head = Atomics.load(header, 0), tail = Atomics.load(header, 1);
         if (head - tail < 16) { data[head & 15] = text[sent++]; Atomics.store(header, 0, head + 1); Atomics.notify(header, 0); }
       }`,
      { eval: true, workerData: ring.buffer },
    );
    await ring.waitForData(seen, 5000);
    let received = '';
    while (received.length < 'hello from a worker'.length) {
      const s = ring.writeCount();
      received += Buffer.from(ring.read()).toString();
      if (received.length < 19) await ring.waitForData(s, 5000);
    }
    expect(received).toBe('hello from a worker');
    await worker.terminate();
  });
});

describe('Doorbell over shared memory', () => {
  it('counts rings and wakes a sleeper before its timeout', () => {
    const bell = new Doorbell();
    const before = bell.value();
    bell.ring();
    expect(bell.value()).toBe(before + 1);
    const start = performance.now();
    bell.sleep(before, 1000); // the value already moved on: returns at once
    expect(performance.now() - start).toBeLessThan(100);
  });
});

describe('waitAsync', () => {
  it('keeps a Node worker whose only work is the wait alive until its timeout', async () => {
    // Node does not count a pending Atomics.waitAsync as work: without the timer beside it, this worker
    // exits at once and never says it woke (a VM worker waiting for its disk's answer did).
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const waitAsync = ${waitAsync.toString()};
       waitAsync(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300).then(() => parentPort.postMessage('woke'));`,
      { eval: true },
    );
    const said = await new Promise<string>((resolve) => {
      worker.once('message', resolve);
      worker.once('exit', () => resolve('exited without waking'));
    });
    expect(said).toBe('woke');
    await worker.terminate();
  });
});
