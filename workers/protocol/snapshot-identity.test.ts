// The one test of "the images a snapshot was taken with": boot images by size and SHA-256, disks by
// their image's identity, a disk without one taken on trust.
import { describe, expect, it } from 'vitest';
import { decodeSnapshotFile } from './snapshot-container.ts';
import { bootImageMismatch, diskImageMismatch } from './snapshot-identity.ts';
import { testSnapshotDisk, testSnapshotFile } from '../test-support/test-snapshot-file.ts';

const bios = { size: 10, sha256: 'a'.repeat(64) };
const kernel = { size: 20, sha256: 'b'.repeat(64) };

describe('snapshot identity', () => {
  it('names the first boot image that differs, is missing or is extra', async () => {
    const { header } = await decodeSnapshotFile(await testSnapshotFile({ id: 's', bios, kernel }));
    expect(bootImageMismatch(header, { bios, kernel, initrd: null })).toBeUndefined();
    expect(bootImageMismatch(header, { bios: { ...bios, size: 11 }, kernel, initrd: null })).toBe('bios');
    expect(bootImageMismatch(header, { bios, kernel: { ...kernel, sha256: 'c'.repeat(64) }, initrd: null })).toBe(
      'kernel',
    );
    expect(bootImageMismatch(header, { bios, kernel: null, initrd: null })).toBe('kernel');
    expect(bootImageMismatch(header, { bios, kernel, initrd: kernel })).toBe('initrd');
  });

  it('names the first disk over another image; one recorded without an identity is taken on trust', () => {
    const built = 'sha256:' + '1'.repeat(64);
    const disks = [testSnapshotDisk(1 << 20), testSnapshotDisk(1 << 20, built)];
    expect(diskImageMismatch(disks, ['anything', built])).toBeUndefined();
    expect(diskImageMismatch(disks, [undefined, 'sha256:' + '2'.repeat(64)])).toBe(1);
    expect(diskImageMismatch(disks, [undefined, undefined])).toBe(1);
  });
});
