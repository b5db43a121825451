/**
 * The user's own files behind a VM, in IndexedDB (fake-indexeddb), and the boot they make: the stored
 * disk, kernel and initrd over the default image's firmware, the whole disk as the root file system.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createStore, set } from 'idb-keyval';
import { deleteCustomImage, loadCustomImage, saveCustomImage } from './custom-images.ts';
import { customBoot } from '../controller/custom-image.ts';
import type { ImageFiles } from '../controller/images.ts';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 1) & 0xff);
const defaults: ImageFiles = {
  manifest: {
    name: 'default',
    title: 'tabvm default (busybox)',
    files: {
      bios: { path: 'fw_dynamic.bin', size: 16, sha256: 'a'.repeat(64) },
      kernel: { path: 'Image', size: 32, sha256: 'b'.repeat(64) },
      initrd: { path: 'initramfs.cpio.gz', size: 8, sha256: 'c'.repeat(64) },
    },
    bootargs: 'console=ttyS0',
    memory: { default: 256, minimum: 16 },
  },
  bios: bytes(16, 3),
  kernel: bytes(32, 5),
  initrd: bytes(8, 7),
};

describe('a VM of the user’s own files', () => {
  it('boots the stored disk with the default firmware and kernel, without the default initrd', async () => {
    const disk = bytes(8192, 11);
    await saveCustomImage('vm-a', { disk: new File([disk], 'mine.img') });
    const boot = await customBoot('vm-a', defaults);
    expect(boot.disk).toEqual(disk);
    expect(boot.images.bios).toEqual(defaults.bios);
    expect(boot.images.kernel).toEqual(defaults.kernel);
    expect(boot.images.initrd).toBeUndefined();
    expect(boot.images.manifest.bootargs).toBe('console=ttyS0 root=/dev/vda rw');
    expect(boot.images.manifest.title).toBe('mine.img');
    expect(boot.identity).toBe('custom:mine.img:8192');
  });

  it('records the disk’s sha256 when it is added; a disk stored before that is hashed when it boots', async () => {
    const disk = bytes(8192, 29);
    const sha256 = createHash('sha256').update(disk).digest('hex');
    await saveCustomImage('vm-d', { disk: new File([disk], 'hashed.img') });
    expect((await loadCustomImage('vm-d')).disk.sha256).toBe(sha256);
    expect((await customBoot('vm-d', defaults)).image).toBe(`sha256:${sha256}`);
    // A record as an older tabvm stored it: no sha256. What boots is named by its bytes all the same.
    await set(
      'vm-e',
      { disk: { name: 'old.img', blob: new Blob([disk]) } },
      createStore('tabvm-custom-images', 'files'),
    );
    expect((await loadCustomImage('vm-e')).disk.sha256).toBeUndefined();
    expect((await customBoot('vm-e', defaults)).image).toBe(`sha256:${sha256}`);
    // The recorded sha256 is what names the disk (it is not recomputed at each boot).
    const other = 'f'.repeat(64);
    await set(
      'vm-f',
      { disk: { name: 'recorded.img', blob: new Blob([disk]), sha256: other } },
      createStore('tabvm-custom-images', 'files'),
    );
    expect((await customBoot('vm-f', defaults)).image).toBe(`sha256:${other}`);
  });

  it('boots the user’s kernel and initrd when given', async () => {
    const kernel = bytes(64, 13);
    const initrd = bytes(48, 17);
    await saveCustomImage('vm-b', {
      disk: new File([bytes(4096, 19)], 'd.img'),
      kernel: new File([kernel], 'Image'),
      initrd: new File([initrd], 'initrd'),
    });
    const boot = await customBoot('vm-b', defaults);
    expect(boot.images.kernel).toEqual(kernel);
    expect(boot.images.initrd).toEqual(initrd);
  });

  it('says so when the files are gone', async () => {
    await saveCustomImage('vm-c', { disk: new File([bytes(4096, 23)], 'gone.img') });
    await deleteCustomImage('vm-c');
    await expect(loadCustomImage('vm-c')).rejects.toThrow(/no longer in the browser’s storage/);
    await expect(customBoot('vm-c', defaults)).rejects.toThrow(/no longer in the browser’s storage/);
  });
});
