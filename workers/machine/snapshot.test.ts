// The snapshot container on a small machine that never runs: what goes in comes back out byte for byte,
// all-zero pages stay out of the file, and damaged or foreign files are refused.
import { describe, expect, it } from 'vitest';
import { coreModule } from '../cpu/test-support/machine.ts';
import { CLINT_MTIMECMP } from '../devices/clint.ts';
import { UART_SCR } from '../devices/uart16550.ts';
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_PAGE_SIZE, SNAPSHOT_PREAMBLE_BYTES } from '../protocol/snapshot-format.ts';
import { Machine } from './machine.ts';
import { MEMORY_MAP } from './memory-map.ts';
import {
  SnapshotError,
  captureSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  restoreSnapshot,
  type RestoreOptions,
} from './snapshot.ts';

const RAM = 8 << 20;
/** Firmware that spins (`j .`); these machines are never run. */
const bios = new Uint8Array(new Uint32Array(64).fill(0x0000006f).buffer);
const kernel = new Uint8Array(8192).map((_, i) => (i * 7 + 1) & 0xff);

async function setup(now: () => number = () => 0): Promise<{ machine: Machine; options: RestoreOptions }> {
  const options: RestoreOptions = { bios, kernel, sharedMemory: true, coreModule: await coreModule(), now };
  const machine = new Machine(
    { ...options, ramSize: RAM, bootargs: 'console=ttyS0 test' },
    { console: { write() {} } },
  );
  return { machine, options };
}

/** Non-zero pages found the slow, obvious way. */
function nonZeroPages(ram: Uint8Array): number[] {
  const pages: number[] = [];
  for (let p = 0; p * SNAPSHOT_PAGE_SIZE < ram.length; p++) {
    if (ram.subarray(p * SNAPSHOT_PAGE_SIZE, (p + 1) * SNAPSHOT_PAGE_SIZE).some((b) => b !== 0)) pages.push(p);
  }
  return pages;
}

const throughJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SnapshotError);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

describe('snapshot container', () => {
  it('round-trips RAM, the hart block, every device record and guest time into a fresh machine', async () => {
    let hostMs = 1000;
    const { machine: a, options } = await setup(() => hostMs);
    a.ram.fill(0xa5, 100 * SNAPSHOT_PAGE_SIZE, 100 * SNAPSHOT_PAGE_SIZE + 10);
    a.ram[RAM - 1] = 0x42;
    a.hart.setX(5, 0x1234_5678_9abc_def0n);
    a.hart.pc = 0x8020_0000n;
    a.bus.write(MEMORY_MAP.uart0.base + UART_SCR, 0x5an, 1);
    a.bus.write(MEMORY_MAP.clint.base + CLINT_MTIMECMP, 123_456_789n, 8);
    hostMs += 2500; // 2.5 s of guest time at 10 MHz
    const savedTicks = a.clock.ticks();
    expect(savedTicks).toBe(25_000_000n);

    const file = await encodeSnapshot(captureSnapshot(a));
    hostMs += 10_000; // time passing on the host between save and restore must not reach the guest
    const b = await restoreSnapshot(file, options, { console: { write() {} } });

    expect(Buffer.from(b.ram).equals(Buffer.from(a.ram))).toBe(true);
    expect(b.hart.saveState()).toEqual(a.hart.saveState());
    expect(b.hart.x(5)).toBe(0x1234_5678_9abc_def0n);
    expect(b.clock.ticks()).toBe(savedTicks);
    hostMs += 1;
    expect(b.clock.ticks()).toBe(savedTicks + 10_000n);
    const { clock: _a, ...devicesA } = throughJson(a.saveState().devices);
    const { clock: _b, ...devicesB } = throughJson(b.saveState().devices);
    expect(devicesB).toEqual(devicesA);
    expect(b.bus.read(MEMORY_MAP.uart0.base + UART_SCR, 1)).toBe(0x5an);
    expect(b.bus.read(MEMORY_MAP.clint.base + CLINT_MTIMECMP, 8)).toBe(123_456_789n);
    expect(b.config.bootargs).toBe('console=ttyS0 test');
    expect(b.config.ramSize).toBe(RAM);
  });

  it('reads a version 1 file (from before disks and virtio devices)', async () => {
    const { machine, options } = await setup();
    machine.ram[300 * SNAPSHOT_PAGE_SIZE] = 7;
    const v2 = await decodeSnapshot(await encodeSnapshot(captureSnapshot(machine)));
    // The same machine as version 1 wrote it: no disks in the header, no virtio records.
    const { disks: _disks, ...header } = v2.header;
    const { virtio: _virtio, ...devices } = v2.header.devices;
    const headerBytes = new TextEncoder().encode(JSON.stringify({ ...header, devices }));
    const file = await encodeSnapshot(captureSnapshot(machine));
    const oldHeaderLength = new DataView(file.buffer).getUint32(12, true);
    const payload = file.subarray(SNAPSHOT_PREAMBLE_BYTES + oldHeaderLength, file.length - 32);
    const body = new Uint8Array(SNAPSHOT_PREAMBLE_BYTES + headerBytes.length + payload.length);
    body.set(file.subarray(0, SNAPSHOT_PREAMBLE_BYTES));
    new DataView(body.buffer).setUint32(8, 1, true);
    new DataView(body.buffer).setUint32(12, headerBytes.length, true);
    body.set(headerBytes, SNAPSHOT_PREAMBLE_BYTES);
    body.set(payload, SNAPSHOT_PREAMBLE_BYTES + headerBytes.length);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
    const v1 = new Uint8Array(body.length + 32);
    v1.set(body);
    v1.set(digest, body.length);
    const restored = await restoreSnapshot(v1, options, { console: { write() {} } });
    expect(restored.ram[300 * SNAPSHOT_PAGE_SIZE]).toBe(7);
    expect(restored.virtio[7]!.status).toBe(0);
  });

  it('stores exactly the non-zero pages', async () => {
    const { machine } = await setup();
    machine.ram[200 * SNAPSHOT_PAGE_SIZE + 4095] = 1; // last byte of a page
    machine.ram[300 * SNAPSHOT_PAGE_SIZE] = 9;
    machine.ram[300 * SNAPSHOT_PAGE_SIZE] = 0; // dirtied and cleared again: zero, so left out
    const capture = captureSnapshot(machine);
    const expected = nonZeroPages(machine.ram);
    expect(expected).toContain(200);
    expect(expected).not.toContain(300);
    expect(Array.from(capture.pages)).toEqual(expected);
    expect(capture.pageData.length).toBe(expected.length * SNAPSHOT_PAGE_SIZE);
    const decoded = await decodeSnapshot(await encodeSnapshot(capture));
    expect(Array.from(decoded.pages)).toEqual(expected);
    expect(decoded.header.ram).toEqual({ pageSize: SNAPSHOT_PAGE_SIZE, pages: expected.length });
  });

  it('refuses damaged, foreign, newer and mismatched snapshots with one line each', async () => {
    const { machine, options } = await setup();
    const file = await encodeSnapshot(captureSnapshot(machine));
    const restore = (bytes: Uint8Array, opts: RestoreOptions = options): Promise<unknown> =>
      restoreSnapshot(bytes, opts, { console: { write() {} } });
    await expect(restore(file)).resolves.toBeInstanceOf(Machine);

    // A flipped bit anywhere after the length fields: header, payload or the checksum itself.
    for (const at of [SNAPSHOT_PREAMBLE_BYTES + 3, file.length >> 1, file.length - 1]) {
      const corrupted = file.slice();
      corrupted[at]! ^= 0x01;
      expect(await refusal(restore(corrupted))).toMatch(/corrupted \(checksum mismatch\)/);
    }
    expect(await refusal(restore(file.subarray(0, file.length - 1)))).toMatch(/truncated/);
    expect(await refusal(restore(file.subarray(0, 12)))).toMatch(/truncated/);
    expect(await refusal(restore(Uint8Array.of(...file, 0)))).toMatch(/trailing/);
    expect(await refusal(restore(new TextEncoder().encode('PK\x03\x04 a zip file')))).toMatch(/not a tabvm snapshot/);
    expect(await refusal(restore(new Uint8Array(0)))).toMatch(/not a tabvm snapshot/);

    const newer = file.slice();
    new DataView(newer.buffer).setUint32(8, SNAPSHOT_FORMAT_VERSION + 1, true);
    expect(await refusal(restore(newer))).toMatch(new RegExp(`version ${SNAPSHOT_FORMAT_VERSION + 1} is newer`));

    const otherKernel = kernel.slice();
    otherKernel[0]! ^= 0xff;
    expect(await refusal(restore(file, { ...options, kernel: otherKernel }))).toMatch(/different kernel/);
    expect(await refusal(restore(file, { ...options, bios: Uint8Array.of(...bios, 0, 0, 0, 0) }))).toMatch(
      /different firmware/,
    );
    const { kernel: _, ...noKernel } = options;
    expect(await refusal(restore(file, noKernel))).toMatch(/needs its kernel/);
    expect(await refusal(restore(file, { ...options, initrd: Uint8Array.of(1) }))).toMatch(
      /taken with no initrd image/,
    );
  });

  it('refuses to capture a halted machine, and to restore device records it does not understand', async () => {
    const { machine, options } = await setup();
    const capture = captureSnapshot(machine);
    const { uart0 } = capture.state.devices;
    const future = {
      ...capture,
      state: { ...capture.state, devices: { ...capture.state.devices, uart0: { ...uart0, v: 2 as 1 } } },
    };
    const file = await encodeSnapshot(future);
    expect(await refusal(restoreSnapshot(file, options, { console: { write() {} } }))).toMatch(
      /cannot be restored: uart16550: unknown state version 2/,
    );

    machine.bus.write(MEMORY_MAP.sifiveTest.base, 0x5555n, 4); // FINISHER_PASS: power off
    expect(machine.status.kind).toBe('halted');
    expect(() => captureSnapshot(machine)).toThrow(SnapshotError);
    expect(() => captureSnapshot(machine)).toThrow(/halted/);
  });
});
