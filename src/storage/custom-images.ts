/**
 * The user's own files behind a VM made from "Your own disk image": the raw disk and the optional kernel
 * and initrd, kept in IndexedDB (idb-keyval) as Blobs under the VM's id, so the VM still boots after a
 * reload without asking for the files again. The disk's sha256 is computed once, when it is added: its
 * snapshots record it (workers/protocol/disk-image.ts), so none is restored over another file.
 */
import { createStore, del, get, keys, set } from 'idb-keyval';
import { z } from 'zod';

const store = createStore('tabvm-custom-images', 'files');

const StoredFile = z.object({ name: z.string().min(1), blob: z.instanceof(Blob) });
const StoredCustomImageSchema = z.object({
  /** `sha256` (lowercase hex) is absent in files stored before tabvm recorded it. */
  disk: StoredFile.extend({
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
  }),
  kernel: StoredFile.optional(),
  initrd: StoredFile.optional(),
});
export type StoredCustomImage = z.infer<typeof StoredCustomImageSchema>;

export async function saveCustomImage(
  vmId: string,
  files: { disk: File; kernel?: File; initrd?: File },
): Promise<void> {
  // A copy of the bytes, not the File: Chromium may keep a File in IndexedDB as a reference to the file on
  // the user's disk, which then fails to read ("NotFoundError") once that file is moved or changed.
  const entry = async (file: File) => ({ name: file.name, blob: new Blob([await file.arrayBuffer()]) });
  // The digest reads the bytes already in memory for the copy, so the disk is not held twice.
  const diskBytes = await files.disk.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', diskBytes));
  const value: StoredCustomImage = {
    disk: {
      name: files.disk.name,
      blob: new Blob([diskBytes]),
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    },
    ...(files.kernel ? { kernel: await entry(files.kernel) } : {}),
    ...(files.initrd ? { initrd: await entry(files.initrd) } : {}),
  };
  await set(vmId, value, store);
}

/** The files saved for a VM; an error that says so if they are gone or damaged. */
export async function loadCustomImage(vmId: string): Promise<StoredCustomImage> {
  const parsed = StoredCustomImageSchema.safeParse(await get(vmId, store));
  if (!parsed.success)
    throw new Error('the disk image chosen for this VM is no longer in the browser’s storage; create the VM again');
  return parsed.data;
}

/** Stores VM `fromVmId`'s files under `toVmId` as well: a clone runs on the same disk image as its original. */
export async function copyCustomImage(fromVmId: string, toVmId: string): Promise<void> {
  await set(toVmId, await loadCustomImage(fromVmId), store);
}

/** The ids of the VMs that have files stored. */
export async function listCustomImageVmIds(): Promise<Set<string>> {
  return new Set((await keys(store)).filter((key): key is string => typeof key === 'string'));
}

export async function deleteCustomImage(vmId: string): Promise<void> {
  await del(vmId, store);
}
