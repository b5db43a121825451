/**
 * Each VM's shared folder in the Origin Private File System: `tabvm-shares/<vmId>/`, made on demand,
 * shared with the guest as tag `shared` (docs/shared-folders.md, "The browser's backends") and removed
 * with the VM. The page's Files panel reads and writes it through the same `DirectoryHandleTree` the
 * VM's worker serves it with.
 */
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

/** Removes the VM's shared folder and everything in it; nothing when it has none (or there is no OPFS). */
export async function deleteVmShare(vmId: string): Promise<void> {
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
