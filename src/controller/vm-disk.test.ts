// A VM's disk alone, over fake-indexeddb: the disk a worker boots with, the saved overlay under it,
// writes kept until a reset, a restore that saves its overlay in one write, and the view it reports.
import 'fake-indexeddb/auto';
import { describe, expect, it, vi } from 'vitest';
import { VmDisk, type VmDiskView } from './vm-disk.ts';
import type { CatalogEntry, ImageFiles } from './images.ts';
import { loadOverlay, saveOverlayBlocks } from '../storage/disk-overlay.ts';
import { chunkedDiskIdentity, type DiskImageManifest } from '../../workers/protocol/disk-image.ts';

vi.stubGlobal('location', { href: 'http://host.test/' });

const manifestDisk: DiskImageManifest = {
  format: 'tabvm-chunked-disk-v1',
  size: 2 * 65536,
  chunkSize: 65536,
  chunks: [{ index: 1, sha256: 'a'.repeat(64), compressedSize: 4321 }],
};
const images = {
  manifest: {
    name: 'default',
    title: 'Test image',
    files: { bios: { path: 'fw.bin', size: 1, sha256: 'b'.repeat(64) } },
    bootargs: '',
    memory: { default: 64, minimum: 16 },
    disk: manifestDisk,
  },
  bios: new Uint8Array(1),
} as ImageFiles;
const entry: CatalogEntry = { id: 'default', title: 'Test image', manifestUrl: '/images/default/manifest.json' };
const block = (fill: number): Uint8Array => new Uint8Array(4096).fill(fill);

function diskOf(vmId: string | undefined): { disk: VmDisk; view: () => VmDiskView | undefined; notes: string[] } {
  let view: VmDiskView | undefined;
  const notes: string[] = [];
  const disk = new VmDisk(vmId, { view: () => view, setView: (v) => (view = v), note: (t) => notes.push(t) });
  return { disk, view: () => view, notes };
}

describe('VmDisk', () => {
  it("boots over the saved overlay of the image's disk, and keeps the guest's writes in it", async () => {
    const { disk, view } = diskOf('d-1');
    const plan = (await disk.open(images, entry, undefined))!;
    expect(plan.request.source).toEqual({
      kind: 'chunked',
      baseUrl: 'http://host.test/images/default/',
      manifest: manifestDisk,
    });
    expect(plan.request.image).toBe(await chunkedDiskIdentity(manifestDisk));
    expect(plan.request.overlay.size).toBe(0);
    expect(view()).toEqual({ downloadedBytes: 0, totalBytes: 4321, fetchedChunks: 0 });
    await disk.writer(plan)(new Map([[4, block(4)]]));
    expect([...(await disk.open(images, entry, undefined))!.request.overlay.keys()]).toEqual([4]);
  });

  it('refuses an overlay saved over another image; a restore opens the disk without reading it', async () => {
    await saveOverlayBlocks('d-2', 'default:an-older-disk', new Map([[0, block(1)]]));
    const { disk } = diskOf('d-2');
    await expect(disk.open(images, entry, undefined)).rejects.toThrow(/another version of image default; Reset disk/);
    const plan = (await disk.open(images, entry, undefined, true))!;
    expect(plan.request.overlay.size).toBe(0);
    // Once the restore succeeded, one write makes the stored overlay the snapshot's.
    await disk.restored(plan, new Map([[7, block(7)]]));
    const stored = await loadOverlay('d-2');
    expect([stored.base, [...stored.blocks.keys()]]).toEqual([plan.base, [7]]);
  });

  it('drops writes still on their way after a reset, and reports a save the browser refuses', async () => {
    const { disk, view, notes } = diskOf('d-3');
    const plan = (await disk.open(images, entry, undefined))!;
    const write = disk.writer(plan);
    await write(new Map([[1, block(1)]]));
    await disk.reset();
    expect((await loadOverlay('d-3')).blocks.size).toBe(0);
    await write(new Map([[2, block(2)]]));
    expect((await loadOverlay('d-3')).blocks.size).toBe(0);

    const after = disk.writer(plan);
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
    });
    await expect(after(new Map([[3, block(3)]]))).rejects.toThrow(/could not be saved in the browser/);
    put.mockRestore();
    expect(view()?.saveError).toMatch(/quota has been exceeded/);
    expect(notes).toHaveLength(1);
    await after(new Map([[3, block(3)]]));
    expect(view()?.saveError).toBeUndefined();
  });

  it('shows download progress and a read failure once', () => {
    const { disk, view, notes } = diskOf(undefined);
    const failed = { downloadedBytes: 10, totalBytes: 20, fetchedChunks: 1, error: 'HTTP 503' };
    disk.status(failed);
    disk.status(failed);
    expect(view()).toEqual(failed);
    expect(notes).toEqual(['disk error: HTTP 503']);
    disk.status({ downloadedBytes: 20, totalBytes: 20, fetchedChunks: 2 });
    expect(view()).toEqual({ downloadedBytes: 20, totalBytes: 20, fetchedChunks: 2 });
  });
});
