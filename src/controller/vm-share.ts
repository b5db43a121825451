/**
 * A VM's shared folder as the page's controller sees it (docs/shared-folders.md, "The browser's
 * backends"): the folder the guest mounts at /mnt/shared (tag `shared`), given to every boot as a
 * directory handle the VM's worker serves over virtio-9p, and the same folder for the page's own
 * reads and writes (the embed API's readFile/writeFile/listFiles, the Files panel).
 *
 * The folder is the VM's own in the Origin Private File System (src/storage/vm-share.ts), or for a boot a
 * folder on the user's disk that the VM's setting names instead; a VM without
 * an id (an embedded one) gets a folder of its own that is removed with the controller. A browser
 * without an OPFS boots without a share.
 */
import { checkSnapshotMachine } from '../../workers/protocol/snapshot-records.ts';
import type { SnapshotHeader } from '../../workers/protocol/snapshot-format.ts';
import type { VmShareRequest } from '../../workers/protocol/vm-api.ts';
import { FsError, type FileKind } from '../../workers/host/9p/file-tree.ts';
import type { DirectoryHandleTree } from '../../workers/host/9p/handle-tree.ts';
import { deleteVmShare, hasVmShares, hostFolderAccess, loadHostFolder, openVmShare } from '../storage/vm-share.ts';

/** The tag the default images mount at /mnt/shared. */
export const SHARE_TAG = 'shared';
/** Where the guest sees the share, for messages. */
export const SHARE_MOUNT = '/mnt/shared';

/** Linux errno values the page explains in words (asm-generic/errno-base.h). */
const ENOENT = 2;
const EEXIST = 17;
const ENOTDIR = 20;
const EISDIR = 21;
const EBUSY = 16;
const ENOSPC = 28;

export interface SharedFileEntry {
  readonly name: string;
  readonly kind: Exclude<FileKind, 'symlink'>;
  /** Bytes (0 for a directory). */
  readonly size: number;
  /** Last modified, in ms since the epoch. */
  readonly modified: number;
}

/** A bad path or a failed file operation, said in one sentence. */
export class SharedFileError extends Error {
  override name = 'SharedFileError';
}

/**
 * The names of `path` inside the share: relative to its root ('poem.txt', 'out/count.txt'), with no
 * '..' or '.' and no empty names; '' or '.' is the root. Anything else is refused, so no path leaves the
 * share.
 */
export function sharePath(path: string): string[] {
  if (typeof path !== 'string') throw new SharedFileError('a path is a string');
  if (path.startsWith('/')) {
    throw new SharedFileError(
      `"${path}" is absolute: give a path inside the shared folder, relative to it (the guest sees "poem.txt" as ${SHARE_MOUNT}/poem.txt)`,
    );
  }
  if (path === '' || path === '.') return [];
  const names = path.replace(/\/+$/, '').split('/');
  for (const name of names) {
    if (name === '..' || name === '.' || name === '') {
      throw new SharedFileError(`"${path}" must name a place inside the shared folder (no "..", "." or "//")`);
    }
    if (name.includes('\0')) throw new SharedFileError(`"${path}" contains a NUL character`);
  }
  return names;
}

function failure(path: string, error: unknown): SharedFileError {
  if (error instanceof SharedFileError) return error;
  const errno = error instanceof FsError ? error.errno : -1;
  const reason: Record<number, string> = {
    [ENOENT]: 'there is no such file or directory',
    [EEXIST]: 'it exists',
    [ENOTDIR]: 'a name on its way is a file, not a directory',
    [EISDIR]: 'it is a directory',
    [EBUSY]: 'the VM has the file open for writing; try again when it is done',
    [ENOSPC]: "the browser's storage for this site is full; nothing was written",
  };
  return new SharedFileError(
    `${path || 'the shared folder'}: ${reason[errno] ?? (error instanceof Error ? error.message : String(error))}`,
    { cause: error },
  );
}

const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export class VmShare {
  readonly #vmId: string | undefined;
  readonly #note: (text: string) => void;
  #folder: Promise<{ handle: FileSystemDirectoryHandle; tree: DirectoryHandleTree }> | undefined;
  #ownFolder: string | undefined;

  /**
   * `vmId`: the VM's id in the library; without one the folder is this controller's alone. `note`
   * puts a line in the VM's console.
   */
  constructor(vmId: string | undefined, note: (text: string) => void) {
    this.#vmId = vmId;
    this.#note = note;
  }

  #open(): Promise<{ handle: FileSystemDirectoryHandle; tree: DirectoryHandleTree }> {
    if (!hasVmShares()) {
      return Promise.reject(
        new SharedFileError('this page has no Origin Private File System, so it cannot reach the shared folder'),
      );
    }
    if (!this.#folder) {
      if (this.#vmId === undefined) this.#ownFolder = `embedded-${crypto.randomUUID()}`;
      const opening = openVmShare(this.#vmId ?? this.#ownFolder!).catch((error: unknown) => {
        // Not kept: a later call asks the browser again.
        if (this.#folder === opening) this.#folder = undefined;
        throw new SharedFileError(
          `the browser denies this page its storage (${error instanceof Error ? error.message : String(error)}), so it cannot reach the shared folder`,
          { cause: error },
        );
      });
      this.#folder = opening;
    }
    return this.#folder;
  }

  /**
   * The shares for a boot: the VM's folder as tag `shared`, or the folder on the user's disk the VM's
   * setting names in its place (read-only if so set), read at every start. A restore gets the shares its snapshot had
   * (a snapshot from before the VM had one is restored without it, as the machine it recorded). Where
   * the page has no OPFS, or the browser denies it its storage (a third-party iframe where third-party
   * storage is blocked), /mnt/shared is an empty folder in the VM's memory instead, said in the console:
   * the guest's mount, and a snapshot that had one, still work.
   */
  async requests(snapshot?: SnapshotHeader): Promise<VmShareRequest[]> {
    if (snapshot) {
      const tags = (checkSnapshotMachine(snapshot).virtio ?? []).flatMap((slot) =>
        slot.deviceId === 9 ? [slot.device.tag] : [],
      );
      if (!tags.includes(SHARE_TAG)) return [];
    }
    const host =
      this.#vmId === undefined
        ? undefined
        : await loadHostFolder(this.#vmId).catch((error: unknown) => {
            this.#note(
              `the VM's shared-folder setting could not be read (${error instanceof Error ? error.message : String(error)}): ${SHARE_MOUNT} is the VM's own folder for this run`,
            );
            return undefined;
          });
    if (host) {
      // Start is a click: where the browser's grant lapsed (a reload), it may ask the user here.
      const access = await hostFolderAccess(host, true).catch(() => 'denied' as const);
      if (access === 'granted') {
        return [{ tag: SHARE_TAG, source: { kind: 'handle', handle: host.handle }, readOnly: host.readOnly }];
      }
      this.#note(
        `the browser has not allowed access to the folder "${host.handle.name}" on this computer (press Allow access in the Files panel, then restart the VM): ${SHARE_MOUNT} is an empty folder in the VM's memory for this run`,
      );
      return [{ tag: SHARE_TAG, source: { kind: 'memory' }, readOnly: host.readOnly }];
    }
    try {
      const { handle } = await this.#open();
      return [{ tag: SHARE_TAG, source: { kind: 'handle', handle } }];
    } catch (error) {
      this.#note(
        `${error instanceof Error ? error.message : String(error)}: ${SHARE_MOUNT} is a folder in the VM's memory for this run`,
      );
      return [{ tag: SHARE_TAG, source: { kind: 'memory' } }];
    }
  }

  /** Writes `data` as the file at `path` (replacing it), making the directories on its way. */
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    const names = sharePath(path);
    if (names.length === 0) throw new SharedFileError('writeFile needs a file name, not the shared folder itself');
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const { tree } = await this.#open();
    // Refused before anything is written: a file larger than what the site may still store.
    const { quota, usage } = await navigator.storage.estimate();
    if (quota !== undefined && usage !== undefined && bytes.length > quota - usage) {
      throw new SharedFileError(
        `${path} is ${mebibytes(bytes.length)}, and the browser lets this site store only ${mebibytes(quota - usage)} more`,
      );
    }
    try {
      for (let i = 1; i < names.length; i++) {
        await tree.mkdir(names.slice(0, i), 0o755).catch((error: unknown) => {
          if (!(error instanceof FsError && error.errno === EEXIST)) throw error;
        });
      }
      await tree.create(names, 0o644).catch(async (error: unknown) => {
        if (!(error instanceof FsError && error.errno === EEXIST)) throw error;
        if ((await tree.getattr(names)).kind !== 'file') throw new FsError(EISDIR);
        await tree.setattr(names, { size: 0 });
      });
      await tree.write(names, 0, bytes);
    } catch (error) {
      throw failure(path, error);
    }
  }

  /** The bytes of the file at `path`. */
  async readFile(path: string): Promise<Uint8Array> {
    const names = sharePath(path);
    const { tree } = await this.#open();
    try {
      const attr = await tree.getattr(names);
      if (attr.kind !== 'file') throw new FsError(EISDIR);
      return await tree.read(names, 0, attr.size);
    } catch (error) {
      throw failure(path, error);
    }
  }

  /** The entries of the directory at `path` ('' for the folder itself), by name. */
  async listFiles(path = ''): Promise<SharedFileEntry[]> {
    const names = sharePath(path);
    const { tree } = await this.#open();
    try {
      const entries = await tree.readdir(names);
      const listed = await Promise.all(
        entries.map(async ({ name }) => {
          const attr = await tree.getattr([...names, name]);
          const kind = attr.kind === 'directory' ? 'directory' : 'file';
          return {
            name,
            kind,
            size: kind === 'file' ? attr.size : 0,
            modified: Number(attr.mtimeNs / 1_000_000n),
          } satisfies SharedFileEntry;
        }),
      );
      return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (error) {
      throw failure(path, error);
    }
  }

  /** Removes an embedded VM's own folder (a library VM's stays until the VM is deleted). */
  async dispose(): Promise<void> {
    if (this.#ownFolder !== undefined) await deleteVmShare(this.#ownFolder);
  }
}
