import { describe, expect, it } from 'vitest';
import { MemoryDisk } from './memory-disk.ts';
import { OVERLAY_BLOCK_BYTES, OverlayDisk, type OverlayPersistence } from './overlay-disk.ts';
import { BlockIoError, type BlockBackend } from './backend.ts';

const B = OVERLAY_BLOCK_BYTES;

function baseDisk(): MemoryDisk {
  return new MemoryDisk(
    Uint8Array.from({ length: 8 * B }, (_, i) => (i * 3) & 0xff),
    true,
  );
}

class RecordingPersistence implements OverlayPersistence {
  readonly stored = new Map<number, Uint8Array>();
  readonly calls: number[][] = [];
  fail = false;
  async persist(blocks: ReadonlyMap<number, Uint8Array>): Promise<void> {
    if (this.fail) throw new Error('QuotaExceededError');
    this.calls.push([...blocks.keys()]);
    for (const [i, b] of blocks) this.stored.set(i, b);
  }
}

async function read(disk: BlockBackend, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await disk.read(offset, out);
  return out;
}

describe('OverlayDisk', () => {
  it('reads the base until written, then its own blocks; the base is never written', async () => {
    const base = baseDisk();
    const original = base.bytes.slice();
    const overlay = new OverlayDisk(base);
    expect(overlay.readOnly).toBe(false);
    const data = new Uint8Array(B).fill(0xee);
    await overlay.write(2 * B, data);
    expect(await read(overlay, 2 * B, B)).toEqual(data);
    // A read across base, overlay and base blocks.
    const expected = original.slice(B, 4 * B);
    expected.set(data, B);
    expect(await read(overlay, B, 3 * B)).toEqual(expected);
    expect(base.bytes).toEqual(original);
    expect(overlay.blockCount).toBe(1);
  });

  it('merges a partial-block write with the base block (read-modify-write)', async () => {
    const base = baseDisk();
    const overlay = new OverlayDisk(base);
    const sector = new Uint8Array(512).fill(0x55);
    await overlay.write(3 * B + 1024, sector);
    const expected = base.bytes.slice(3 * B, 4 * B);
    expected.set(sector, 1024);
    expect(await read(overlay, 3 * B, B)).toEqual(expected);
  });

  it('keeps concurrent partial writes to one block', async () => {
    const overlay = new OverlayDisk(baseDisk());
    await Promise.all([overlay.write(0, new Uint8Array(512).fill(1)), overlay.write(512, new Uint8Array(512).fill(2))]);
    const block = await read(overlay, 0, 1024);
    expect(block.subarray(0, 512).every((b) => b === 1)).toBe(true);
    expect(block.subarray(512).every((b) => b === 2)).toBe(true);
  });

  it('persists dirty blocks on flush, only those, and a flush that cannot store them fails and is retried', async () => {
    const persistence = new RecordingPersistence();
    const overlay = new OverlayDisk(baseDisk(), { persistence, persistDelayMs: 60_000 });
    await overlay.write(0, new Uint8Array(2 * B).fill(7));
    expect(overlay.dirtyCount).toBe(2);
    await overlay.flush();
    expect(persistence.calls).toEqual([[0, 1]]);
    expect(overlay.dirtyCount).toBe(0);
    await overlay.flush();
    expect(persistence.calls).toHaveLength(1);
    await overlay.write(5 * B, new Uint8Array(B).fill(9));
    persistence.fail = true;
    await expect(overlay.flush()).rejects.toThrow(BlockIoError);
    await expect(overlay.flush()).rejects.toThrow(/could not be saved: QuotaExceededError/);
    persistence.fail = false;
    await overlay.flush();
    expect(persistence.calls.at(-1)).toEqual([5]);
    expect(persistence.stored.get(5)!.every((b) => b === 9)).toBe(true);
    overlay.discard();
  });

  it('persists on its own after the delay, without a flush', async () => {
    const persistence = new RecordingPersistence();
    const overlay = new OverlayDisk(baseDisk(), { persistence, persistDelayMs: 1 });
    await overlay.write(B, new Uint8Array(B).fill(4));
    for (let i = 0; i < 200 && persistence.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(persistence.calls).toEqual([[1]]);
  });

  it('starts from saved blocks, exports blocks that later writes leave as they were, and discards them', async () => {
    const base = baseDisk();
    const saved = new Uint8Array(B).fill(0x42);
    const overlay = new OverlayDisk(base, { saved: [[6, saved]] });
    expect(await read(overlay, 6 * B, B)).toEqual(saved);
    await overlay.write(2 * B, new Uint8Array(B).fill(2));
    const exported = overlay.exportBlocks();
    expect([...exported.keys()].sort()).toEqual([2, 6]);
    // A partial write and a whole-block write after the export: the exported arrays keep the old bytes.
    await overlay.write(6 * B + 512, new Uint8Array(512).fill(7));
    await overlay.write(2 * B, new Uint8Array(B).fill(3));
    expect(exported.get(6)).toEqual(saved);
    expect(exported.get(2)!.every((b) => b === 2)).toBe(true);
    const later = overlay.exportBlocks();
    expect(later.get(6)).not.toBe(exported.get(6));
    expect(later.get(2)).not.toBe(exported.get(2));
    expect((await read(overlay, 6 * B, B)).subarray(512, 1024).every((b) => b === 7)).toBe(true);
    // Unwritten blocks keep their arrays: that is how a child snapshot knows they did not change.
    await overlay.write(4 * B, new Uint8Array(B).fill(4));
    expect(overlay.exportBlocks().get(6)).toBe(later.get(6));
    overlay.discard();
    expect(overlay.blockCount).toBe(0);
    expect(await read(overlay, 6 * B, B)).toEqual(base.bytes.subarray(6 * B, 7 * B));
  });

  it('refuses saved blocks that do not fit the disk', () => {
    expect(() => new OverlayDisk(baseDisk(), { saved: [[8, new Uint8Array(B)]] })).toThrow(/does not fit/);
    expect(() => new OverlayDisk(baseDisk(), { saved: [[0, new Uint8Array(100)]] })).toThrow(/does not fit/);
  });

  it('turns a base read failure during read-modify-write into the write failing', async () => {
    const base = baseDisk();
    const failing: BlockBackend = Object.assign(Object.create(base) as MemoryDisk, {
      read: async () => {
        throw new BlockIoError('chunk 0 could not be read');
      },
    });
    const overlay = new OverlayDisk(failing);
    await expect(overlay.write(512, new Uint8Array(512))).rejects.toThrow(/chunk 0/);
    expect(overlay.blockCount).toBe(0);
  });
});
