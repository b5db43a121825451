/**
 * Each VM's shared folder in the Origin Private File System: `tabvm-shares/<vmId>/`, made on demand,
 * shared with the guest as tag `shared` (docs/shared-folders.md, "The browser's backends") and removed
 * with the VM. The page's Files panel reads and writes it through the same `DirectoryHandleTree` the
 * VM's worker serves it with.
 *
 * A VM may instead share a folder on the user's disk (showDirectoryPicker), read-write or read-only: the
 * setting (the folder's handle and the flag) is kept in IndexedDB per VM and forgotten with the VM.
 */
import { createStore, del, get, set } from 'idb-keyval';
import { z } from 'zod';
import { DirectoryHandleTree } from '../../workers/host/9p/handle-tree.ts';

const SHARES_FOLDER = 'tabvm-shares';

/** Whether this browser has an OPFS (not a page without a secure context, nor Node). */
export function hasVmShares(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';
}

async function sharesFolder(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(SHARES_FOLDER, { create: true });
}

export interface VmShareFolder {
  /** The folder's handle, for the VM's boot request (handles are structured-cloneable). */
  readonly handle: FileSystemDirectoryHandle;
  /** The folder as the page reads and writes it. */
  readonly tree: DirectoryHandleTree;
}

/** The VM's shared folder, created empty the first time. */
export async function openVmShare(vmId: string): Promise<VmShareFolder> {
  const handle = await (await sharesFolder()).getDirectoryHandle(vmId, { create: true });
  return { handle, tree: new DirectoryHandleTree(handle) };
}

/** Removes the VM's shared folder and everything in it, and forgets its host folder (nothing on the user's disk). */
export async function deleteVmShare(vmId: string): Promise<void> {
  await del(vmId, hostFolders());
  if (!hasVmShares()) return;
  try {
    await (await sharesFolder()).removeEntry(vmId, { recursive: true });
  } catch (error) {
    if (!(error instanceof DOMException && error.name === 'NotFoundError')) throw error;
  }
}

/** The ids of the VMs that have a shared folder (to remove those of VMs deleted while a tab was closing). */
export async function listVmShareIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  if (!hasVmShares()) return ids;
  const folder = (await sharesFolder()) as FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
  for await (const name of folder.keys()) ids.add(name);
  return ids;
}

// --- a folder on the user's disk (File System Access API), shared in place of the VM's own folder ---

let folderStore: ReturnType<typeof createStore> | undefined;
function hostFolders(): ReturnType<typeof createStore> {
  folderStore ??= createStore('tabvm-share-folders', 'folders');
  return folderStore;
}

const StoredHostFolder = z.object({
  handle: z.custom<FileSystemDirectoryHandle>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      (value as { kind?: unknown }).kind === 'directory' &&
      typeof (value as { name?: unknown }).name === 'string',
    'a directory handle',
  ),
  readOnly: z.boolean(),
});
/** A VM's setting: the folder the user picked (its handle, which IndexedDB keeps) and whether the guest may write. */
export type HostFolder = z.infer<typeof StoredHostFolder>;

/** The File System Access API's permission calls (Chromium's; not in TypeScript's DOM lib). */
interface PermissionHandle {
  queryPermission?(descriptor: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
  requestPermission?(descriptor: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
}
type DirectoryPicker = (options: { id?: string; mode?: 'read' | 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

/** Whether this browser can share a folder of the user's disk (showDirectoryPicker: Chromium, not Firefox or Safari). */
export function canPickHostFolder(): boolean {
  return typeof (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
}

/**
 * Asks the user for a folder (the browser's picker; call it from a click). The picker asks for write
 * permission too unless `readOnly`. Undefined when the user cancels.
 */
export async function pickHostFolder(readOnly: boolean): Promise<HostFolder | undefined> {
  const picker = (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  if (!picker) throw new Error('this browser cannot share a folder from the computer');
  try {
    const handle = await picker({ id: 'tabvm-share', mode: readOnly ? 'read' : 'readwrite' });
    return { handle, readOnly };
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') return undefined;
    throw error;
  }
}

/**
 * Whether the page may use the folder as the setting asks (read, or read and write). The browser's grant
 * lasts while a tab of the site is open; after that it is 'prompt' again, and `ask` asks the user, which
 * the browser allows only right after a click (otherwise the answer stays 'prompt').
 */
export async function hostFolderAccess(folder: HostFolder, ask = false): Promise<PermissionState> {
  const handle = folder.handle as FileSystemDirectoryHandle & PermissionHandle;
  const descriptor = { mode: folder.readOnly ? 'read' : 'readwrite' } as const;
  if (!handle.queryPermission) return 'granted';
  const state = await handle.queryPermission(descriptor);
  if (state !== 'prompt' || !ask || !handle.requestPermission) return state;
  try {
    return await handle.requestPermission(descriptor);
  } catch (error) {
    // SecurityError: not right after a user's click, so the browser did not ask.
    if (error instanceof DOMException && error.name === 'SecurityError') return 'prompt';
    throw error;
  }
}

export async function saveHostFolder(vmId: string, folder: HostFolder): Promise<void> {
  await set(vmId, { handle: folder.handle, readOnly: folder.readOnly }, hostFolders());
}

/**
 * The VM's host folder; a record that does not parse is forgotten (the VM's own folder is shared again).
 * None without IndexedDB (Node), where no setting can have been stored.
 */
export async function loadHostFolder(vmId: string): Promise<HostFolder | undefined> {
  if (typeof indexedDB === 'undefined') return undefined;
  const stored: unknown = await get(vmId, hostFolders());
  if (stored === undefined) return undefined;
  const parsed = StoredHostFolder.safeParse(stored);
  if (parsed.success) return parsed.data;
  await del(vmId, hostFolders());
  return undefined;
}

/** "Stop sharing": the VM's own folder is shared again (nothing on the user's disk is touched). */
export async function clearHostFolder(vmId: string): Promise<void> {
  await del(vmId, hostFolders());
}
