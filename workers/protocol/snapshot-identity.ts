/**
 * Whether images are the ones a snapshot was taken with: the one definition of that test, used where
 * the images are known. Import tries each catalog image's manifest (src/app/snapshots.ts); the page's
 * Restore compares the VM's disk, to refuse in the image's name before a worker starts
 * (src/controller/snapshot-restore.ts); the machine's restore compares the hashes of the bytes it is
 * given and its disks' backends (workers/machine/snapshot.ts, also for npm run vm --snapshot). Each
 * caller words the refusal for its reader.
 */
import type { SnapshotHeader, SnapshotImageIdentity } from './snapshot-format.ts';

export type BootImageName = keyof SnapshotHeader['images'];

/** The boot images at hand, by size and SHA-256; null for one there is none of. */
export type BootImageIdentities = { readonly [image in BootImageName]: SnapshotImageIdentity | null };

/** The first boot image that is not the one the snapshot was taken with (present where it had none, or the reverse). */
export function bootImageMismatch(header: SnapshotHeader, given: BootImageIdentities): BootImageName | undefined {
  const names: readonly BootImageName[] = ['bios', 'kernel', 'initrd'];
  return names.find((name) => {
    const expected = header.images[name];
    const actual = given[name];
    if (expected === null || actual === null) return expected !== actual;
    return expected.size !== actual.size || expected.sha256 !== actual.sha256;
  });
}

/**
 * The first disk whose image is another than the one the snapshot's overlay was written over (its blocks
 * would corrupt that file system): the snapshot's disks (a header's or unpacked contents') against each
 * disk's identity given, in machine order. A snapshot from before
 * identities were recorded is taken on trust; the number and sizes of the disks are the caller's.
 */
export function diskImageMismatch(
  disks: readonly { readonly image?: string }[],
  given: readonly (string | undefined)[],
): number | undefined {
  const index = disks.findIndex((disk, i) => disk.image !== undefined && disk.image !== given[i]);
  return index < 0 ? undefined : index;
}
