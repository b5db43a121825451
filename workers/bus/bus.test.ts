import { describe, expect, it } from 'vitest';
import { Bus } from './bus.ts';
import type { AccessSize, MmioDevice } from './device.ts';
import { GuestErrorLog } from './guest-log.ts';

interface Access {
  kind: 'read' | 'write';
  offset: number;
  size: AccessSize;
  value?: bigint;
}

/** A device that records its accesses and reads back offset + 0x1000 (to tell offsets apart). */
class ProbeDevice implements MmioDevice {
  readonly accesses: Access[] = [];
  constructor(readonly accessSizes: readonly AccessSize[] = [1, 2, 4, 8]) {}
  read(offset: number, size: AccessSize): bigint {
    this.accesses.push({ kind: 'read', offset, size });
    return BigInt(offset + 0x1000);
  }
  write(offset: number, value: bigint, size: AccessSize): void {
    this.accesses.push({ kind: 'write', offset, size, value });
  }
}

function busWithLog(): { bus: Bus; messages: string[] } {
  const messages: string[] = [];
  return { bus: new Bus(new GuestErrorLog((m) => messages.push(m))), messages };
}

describe('Bus', () => {
  it('routes accesses to the owning device with region-relative offsets', () => {
    const { bus } = busWithLog();
    const a = new ProbeDevice();
    const b = new ProbeDevice();
    bus.map('a', 0x1000_0000, 0x100, a);
    bus.map('b', 0x0200_0000, 0x1_0000, b);
    expect(bus.read(0x1000_0005, 1)).toBe(0x1005n);
    bus.write(0x0200_4008, 0x1234n, 8);
    expect(a.accesses).toEqual([{ kind: 'read', offset: 5, size: 1 }]);
    expect(b.accesses).toEqual([{ kind: 'write', offset: 0x4008, size: 8, value: 0x1234n }]);
  });

  it('treats regions as half-open', () => {
    const { bus, messages } = busWithLog();
    const dev = new ProbeDevice();
    bus.map('dev', 0x100, 0x100, dev);
    expect(bus.findRegion(0x100)?.name).toBe('dev');
    expect(bus.findRegion(0x1ff)?.name).toBe('dev');
    expect(bus.findRegion(0x200)).toBeUndefined();
    expect(bus.findRegion(0xff)).toBeUndefined();
    expect(bus.read(0x200, 1)).toBe(0n);
    expect(dev.accesses).toEqual([]);
    expect(messages).toHaveLength(1);
  });

  it('refuses overlapping regions when mapping, and accepts adjacent ones', () => {
    const bus = new Bus();
    bus.map('middle', 0x2000, 0x1000, new ProbeDevice());
    bus.map('below', 0x1000, 0x1000, new ProbeDevice()); // ends exactly where middle begins
    bus.map('above', 0x3000, 0x1000, new ProbeDevice()); // begins exactly where middle ends
    expect(() => bus.map('same', 0x2000, 0x1000, new ProbeDevice())).toThrow(/overlaps middle/);
    expect(() => bus.map('tail', 0x2fff, 0x10, new ProbeDevice())).toThrow(/overlaps middle/);
    expect(() => bus.map('head', 0x0ff0, 0x20, new ProbeDevice())).toThrow(/overlaps below/);
    expect(() => bus.map('inside', 0x2400, 0x10, new ProbeDevice())).toThrow(/overlaps middle/);
    expect(() => bus.map('around', 0x0, 0x10_0000, new ProbeDevice())).toThrow(/overlaps/);
    expect(bus.regions.map((r) => r.name)).toEqual(['below', 'middle', 'above']);
  });

  it('refuses malformed ranges and reused names', () => {
    const bus = new Bus();
    bus.map('x', 0x1000, 0x1000, new ProbeDevice());
    expect(() => bus.map('x', 0x8000, 0x10, new ProbeDevice())).toThrow(/already mapped/);
    expect(() => bus.map('empty', 0x9000, 0, new ProbeDevice())).toThrow(RangeError);
    expect(() => bus.map('high', 0xffff_f000, 0x2000, new ProbeDevice())).toThrow(RangeError);
    expect(() => bus.map('mute', 0x9000, 0x10, new ProbeDevice([]))).toThrow(/no access size/);
  });

  it('finds the right region among many mapped in any order', () => {
    const bus = new Bus();
    const bases = [17, 3, 9, 0, 12, 5, 19, 1, 8, 14, 6, 11].map((i) => 0x1000_0000 + i * 0x2000);
    for (const base of bases) bus.map(`r${base.toString(16)}`, base, 0x1000, new ProbeDevice());
    for (const base of bases) {
      expect(bus.findRegion(base)?.base).toBe(base);
      expect(bus.findRegion(base + 0xfff)?.base).toBe(base);
      // The gap after each region belongs to nobody.
      expect(bus.findRegion(base + 0x1000)).toBeUndefined();
    }
    expect(bus.findRegion(0x0fff_ffff)).toBeUndefined();
  });

  it('reads unmapped addresses as 0, ignores writes, and logs once per address and kind', () => {
    const { bus, messages } = busWithLog();
    expect(bus.read(0x5000, 4)).toBe(0n);
    expect(bus.read(0x5000, 4)).toBe(0n);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/unmapped address 0x5000/);
    bus.write(0x5000, 1n, 4);
    bus.write(0x5000, 2n, 4);
    expect(messages).toHaveLength(2);
    expect(bus.read(0x6000, 4)).toBe(0n);
    expect(messages).toHaveLength(3);
  });

  it('refuses widths the device did not declare, logging once per region and kind', () => {
    const { bus, messages } = busWithLog();
    const dev = new ProbeDevice([4]);
    bus.map('narrow', 0x1000, 0x100, dev);
    expect(bus.read(0x1000, 1)).toBe(0n);
    expect(bus.read(0x1004, 8)).toBe(0n);
    bus.write(0x1000, 5n, 2);
    expect(dev.accesses).toEqual([]);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/narrow/);
    expect(bus.read(0x1004, 4)).toBe(0x1004n);
  });

  it('refuses misaligned accesses and accesses running past the region', () => {
    const { bus, messages } = busWithLog();
    const dev = new ProbeDevice([4, 8]);
    bus.map('dev', 0x1000, 0x0c, dev);
    expect(bus.read(0x1002, 4)).toBe(0n);
    expect(bus.read(0x1008, 8)).toBe(0n); // aligned, but bytes 0x100c..0x100f are not the device's
    expect(dev.accesses).toEqual([]);
    expect(messages.length).toBeGreaterThan(0);
  });

  it('hands the device a value zero-extended from the access width', () => {
    const bus = new Bus();
    const dev = new ProbeDevice();
    bus.map('dev', 0x1000, 0x100, dev);
    bus.write(0x1004, -1n, 4); // a sign-extended register from `sw`
    bus.write(0x1001, 0x1234n, 1);
    expect(dev.accesses.map((a) => a.value)).toEqual([0xffff_ffffn, 0x34n]);
  });
});

describe('GuestErrorLog', () => {
  it('logs each key once, scopes keys apart, and stops remembering past its limit', () => {
    const messages: string[] = [];
    const log = new GuestErrorLog((m) => messages.push(m), 3);
    log.once('k', 'first');
    log.once('k', 'again');
    const a = log.scope('virtio0');
    const b = log.scope('virtio1');
    a.once('k', 'from a');
    a.once('k', 'from a again');
    b.once('k', 'from b');
    expect(messages).toEqual(['guest error: first', 'guest error: virtio0: from a', 'guest error: virtio1: from b']);
    log.once('k4', 'over the limit');
    log.once('k5', 'still over');
    expect(messages).toHaveLength(4);
    expect(messages[3]).toMatch(/not logging new ones/);
  });
});

describe('Bus, as the CPU sees it', () => {
  // Issue 12 part 5: what the CPU calls refuses what QEMU's memory core refuses, so the CPU faults.
  it('refuses a CPU access of an undeclared width, per range, where read/write only log it', () => {
    const { bus, messages } = busWithLog();
    const clint = Object.assign(new ProbeDevice([4, 8]), {
      accessRanges: [{ start: 0, end: 0x4000, sizes: [4] as AccessSize[] }],
    });
    bus.map('clint', 0x0200_0000, 0x1_0000, clint);
    expect(bus.load(0x0200_0000, 8)).toBeUndefined();
    expect(bus.load(0x0200_0000, 4)).toBe(0x1000n);
    expect(bus.load(0x0200_bff8, 8)).toBe(0xcff8n);
    expect(bus.store(0x0200_0000, 1n, 2)).toBe(false);
    expect(bus.store(0x0200_4000, 1n, 8)).toBe(true);
    expect(bus.load(0x0200_4001, 4)).toBeUndefined(); // misaligned
    expect(bus.load(0x3000_0000, 4)).toBeUndefined(); // unmapped
    expect(bus.read(0x0200_0000, 8)).toBe(0n);
    expect(clint.accesses.map((a) => a.offset)).toEqual([0, 0xbff8, 0x4000]);
    expect(messages.length).toBeGreaterThan(0);
  });

  it('splits a wide access into the pieces a device handles, lowest address first', () => {
    const { bus } = busWithLog();
    const virtio = Object.assign(new ProbeDevice([1, 2, 4, 8]), { splitTo: 4 as AccessSize });
    bus.map('virtio', 0x1000_1000, 0x1000, virtio);
    expect(bus.load(0x1000_1000, 8)).toBe((0x1004n << 32n) | 0x1000n);
    expect(bus.store(0x1000_1010, 0x1111_2222_3333_4444n, 8)).toBe(true);
    expect(virtio.accesses).toEqual([
      { kind: 'read', offset: 0, size: 4 },
      { kind: 'read', offset: 4, size: 4 },
      { kind: 'write', offset: 0x10, size: 4, value: 0x3333_4444n },
      { kind: 'write', offset: 0x14, size: 4, value: 0x1111_2222n },
    ]);
  });

  it('fetches instructions only from executable regions', () => {
    const { bus, messages } = busWithLog();
    const rom = Object.assign(new ProbeDevice(), { executable: true });
    const uart = new ProbeDevice();
    bus.map('rom', 0x1000, 0x1000, rom);
    bus.map('uart', 0x1000_0000, 0x100, uart);
    expect(bus.fetch(0x1004, 2)).toBe(0x1004n);
    expect(bus.fetch(0x1000_0000, 2)).toBeUndefined();
    expect(bus.fetch(0x3000_0000, 2)).toBeUndefined();
    expect(uart.accesses).toEqual([]);
    expect(messages.some((m) => /holds no code/.test(m))).toBe(true);
  });
});
