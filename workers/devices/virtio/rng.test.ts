import { describe, expect, it } from 'vitest';
import { FakeDriver } from './fake-driver.ts';
import { VIRTIO_ID_ENTROPY, VirtioRng } from './rng.ts';
import { VIRTIO_MMIO_DEVICE_ID } from './mmio.ts';

describe('virtio-rng', () => {
  it('fills each writable chain from the random source and returns it at once', () => {
    let calls = 0;
    const driver = new FakeDriver(
      new VirtioRng((bytes) => {
        calls++;
        bytes.forEach((_, i) => (bytes[i] = (i + calls) & 0xff));
      }),
    );
    expect(driver.reg(VIRTIO_MMIO_DEVICE_ID)).toBe(VIRTIO_ID_ENTROPY);
    driver.start(1, 64);
    const a = driver.offer(0, [{ write: 8 }, { write: 8 }]);
    const b = driver.offer(0, [{ write: 4 }]);
    driver.notify(0);
    expect(driver.usedIdx(0)).toBe(2);
    expect(driver.used(0, 0)).toEqual({ id: a.head, len: 16 });
    expect(driver.used(0, 1)).toEqual({ id: b.head, len: 4 });
    expect([...driver.bytes(a.addresses[1]!, 8)]).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    expect([...driver.bytes(b.addresses[0]!, 4)]).toEqual([2, 3, 4, 5]);
    expect(driver.irq.level).toBe(true);
  });

  it('uses crypto.getRandomValues by default', () => {
    const driver = new FakeDriver(new VirtioRng());
    driver.start(1, 64);
    const { addresses } = driver.offer(0, [{ write: 64 }]);
    driver.notify(0);
    expect(driver.used(0, 0).len).toBe(64);
    // 64 random bytes are all zero with probability 2^-512.
    expect(driver.bytes(addresses[0]!, 64).some((b) => b !== 0)).toBe(true);
  });
});
