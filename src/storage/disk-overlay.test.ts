/** Disk overlays in IndexedDB (fake-indexeddb): blocks come back per VM, saves are all-or-nothing. */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { deleteOverlay, listOverlayVmIds, loadOverlay, replaceOverlay, saveOverlayBlocks } from './disk-overlay.ts';

const block = (fill: number): Uint8Array => new Uint8Array(4096).fill(fill);

describe('disk overlays in IndexedDB', () => {
  it('are empty for a VM that never wrote', async () => {
    expect(await loadOverlay('never')).toEqual({ base: undefined, blocks: new Map() });
  });

  it('come back per VM, later saves replacing blocks', async () => {
    await saveOverlayBlocks(
      'vm-a',
      'debian@1',
      new Map([
        [3, block(1)],
        [70000, block(2)],
      ]),
    );
    await saveOverlayBlocks('vm-b', 'debian@1', new Map([[3, block(9)]]));
    await saveOverlayBlocks('vm-a', 'debian@1', new Map([[3, block(5)]]));
    const a = await loadOverlay('vm-a');
    expect(a.base).toBe('debian@1');
    expect([...a.blocks.keys()]).toEqual([3, 70000]);
    expect(a.blocks.get(3)).toEqual(block(5));
    expect(a.blocks.get(70000)).toEqual(block(2));
    expect((await loadOverlay('vm-b')).blocks.get(3)).toEqual(block(9));
  });

  it('are deleted for one VM only', async () => {
    await saveOverlayBlocks('vm-c', 'img', new Map([[0, block(1)]]));
    await saveOverlayBlocks('vm-d', 'img', new Map([[0, block(2)]]));
    await deleteOverlay('vm-c');
    expect(await loadOverlay('vm-c')).toEqual({ base: undefined, blocks: new Map() });
    expect((await loadOverlay('vm-d')).blocks.size).toBe(1);
  });

  it('are listed once per VM that has any, also one with no block left', async () => {
    await saveOverlayBlocks(
      'list-a',
      'img',
      new Map([
        [0, block(1)],
        [9, block(1)],
        [2 ** 40, block(1)],
      ]),
    );
    await saveOverlayBlocks('list-b', 'img', new Map([[5, block(2)]]));
    await replaceOverlay('list-c', 'img', new Map());
    await saveOverlayBlocks('list-d', 'img', new Map([[1, block(3)]]));
    await deleteOverlay('list-d');
    const ids = [...(await listOverlayVmIds())].filter((id) => id.startsWith('list-'));
    expect(ids.sort()).toEqual(['list-a', 'list-b', 'list-c']);
  });

  it('keep what was saved before when a save fails', async () => {
    await saveOverlayBlocks('vm-e', 'img', new Map([[1, block(1)]]));
    // A value IndexedDB cannot clone aborts the transaction, as a full disk would.
    const bad = new Map<number, Uint8Array>([
      [1, block(7)],
      [2, (() => {}) as unknown as Uint8Array],
    ]);
    await expect(saveOverlayBlocks('vm-e', 'img', bad)).rejects.toThrow();
    const saved = await loadOverlay('vm-e');
    expect([...saved.blocks.keys()]).toEqual([1]);
    expect(saved.blocks.get(1)).toEqual(block(1));
  });

  it('are replaced whole by a restored snapshot, or not at all', async () => {
    await saveOverlayBlocks(
      'vm-f',
      'img',
      new Map([
        [1, block(1)],
        [5, block(5)],
      ]),
    );
    await replaceOverlay('vm-f', 'img', new Map([[2, block(2)]]));
    const replaced = await loadOverlay('vm-f');
    expect([...replaced.blocks.keys()]).toEqual([2]);
    expect(replaced.blocks.get(2)).toEqual(block(2));
    const bad = new Map<number, Uint8Array>([[3, (() => {}) as unknown as Uint8Array]]);
    await expect(replaceOverlay('vm-f', 'img', bad)).rejects.toThrow();
    expect([...(await loadOverlay('vm-f')).blocks.keys()]).toEqual([2]);
  });
});
