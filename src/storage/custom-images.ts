/**
 * The user's own files behind a VM made from "Your own disk image": the raw disk and the optional kernel
 * and initrd, kept in IndexedDB (idb-keyval) as Blobs under the VM's id, so the VM still boots after a
 * reload without asking for the files again.
 */
import { createStore, del, get, set } from 'idb-keyval';
import { z } from 'zod';

const store = createStore('tabvm-custom-images', 'files');

const StoredFile = z.object({ name: z.string().min(1), blob: z.instanceof(Blob) });
const StoredCustomImageSchema = z.object({
  disk: StoredFile,
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
  const value: StoredCustomImage = {
    disk: await entry(files.disk),
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

export async function deleteCustomImage(vmId: string): Promise<void> {
  await del(vmId, store);
}
