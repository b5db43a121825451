import { describe, expect, it } from 'vitest';
import { throughJson } from '../test-support.ts';
import { VirtioMmioTransport } from './mmio.ts';

describe('virtio-mmio transport, empty slot', () => {
  it('identifies as a version 2 transport with no device', () => {
    const slot = new VirtioMmioTransport();
    expect(slot.read(0x000, 4)).toBe(0x7472_6976n); // "virt"
    expect(slot.read(0x004, 4)).toBe(2n);
    expect(slot.read(0x008, 4)).toBe(0n);
    expect(slot.read(0x00c, 4)).toBe(0x554d_4551n); // "QEMU"
  });

  it('reads 0 elsewhere and ignores writes', () => {
    const slot = new VirtioMmioTransport();
    for (const offset of [0x010, 0x034, 0x060, 0x070, 0x0fc, 0x100]) expect(slot.read(offset, 4)).toBe(0n);
    slot.write(0x070, 0xffn, 4); // Status
    slot.write(0x008, 5n, 4);
    expect(slot.read(0x070, 4)).toBe(0n);
    expect(slot.read(0x008, 4)).toBe(0n);
  });

  it("round-trips its (empty) state and refuses another device's", () => {
    const slot = new VirtioMmioTransport();
    const saved = throughJson(slot.saveState());
    expect(saved.deviceId).toBe(0);
    slot.loadState(saved);
    expect(() => slot.loadState({ ...saved, deviceId: 2 })).toThrow(/device 2/);
  });
});
