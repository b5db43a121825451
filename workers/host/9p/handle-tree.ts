/**
 * A file tree over a `FileSystemDirectoryHandle` (file-tree.ts; docs/shared-folders.md, "The browser's
 * backends"): a VM's folder in the Origin Private File System, or a real folder the user picked with
 * `showDirectoryPicker` (File System Access API). It runs in the VM's worker and in the page alike.
 *
 * What the handle API has maps directly: files and directories, a file's size and lastModified,
 * create, remove, a file's move. What it lacks gets these answers:
 * - **Modes** are not stored by the browser: files read 0644 and directories 0755 until the guest sets
 *   one, which this tree then keeps in memory for as long as it lives (the VM's run). So `chmod +x`
 *   and running the script work in that run; a new run starts from the defaults again.
 * - **Times**: mtime (and atime, ctime) is the file's lastModified; a time the guest sets is kept in
 *   memory while lastModified stays what it was. A directory has no time of its own: the tree's start.
 * - **Symlinks** cannot be made (EOPNOTSUPP, as on a FAT file system: there is nothing to store one
 *   in without inventing a format the user's own tools would not understand); **hard links** neither
 *   (no `link`: the server answers EOPNOTSUPP).
 * - **Inode numbers** are handed out per path by the tree and follow its renames.
 * - **A directory move** is a new directory, its files moved into it one by one, then the old removed
 *   (the API moves files only).
 *
 * Writes: in a dedicated worker over the OPFS, through a `FileSystemSyncAccessHandle`, kept open while
 * a fid holds the file (hold/release, as the Node backend keeps a descriptor). Such a handle is
 * exclusive: while it is open, anyone else's write to that file (the page's Files panel) fails with
 * NoModificationAllowedError, which this tree retries briefly and then answers EBUSY; reads are never
 * blocked. Elsewhere (the page; a picked folder, which has no sync handles) each write is a
 * `createWritable({ keepExistingData: true })` committed at once. A full quota (QuotaExceededError) is
 * ENOSPC: the write is refused whole, and what the file held before stays.
 */
import { E } from './protocol.ts';
import { FsError, type DirEntry, type FileAttr, type FileTree, type FsStats, type SetAttr } from './file-tree.ts';

export interface DirectoryHandleTreeOptions {
  readonly readOnly?: boolean;
  /**
   * Write through sync access handles (a dedicated worker over the OPFS). Default: where the global
   * scope is a dedicated worker; the tree falls back to writables if the handle refuses.
   */
  readonly syncAccess?: boolean;
  /** Wall-clock time in ms; default Date.now. */
  readonly now?: () => number;
}

const FILE_MODE = 0o644;
const DIRECTORY_MODE = 0o755;
const BLOCK_BYTES = 4096;
/** How often and how long a write waits for another holder of a file's lock before EBUSY. */
const LOCK_RETRIES = 10;
const LOCK_RETRY_MS = 20;

type Handle = FileSystemFileHandle | FileSystemDirectoryHandle;

/** What Chromium has beyond the typed API: iteration and a file's move (not in TypeScript's DOM lib). */
interface ListableDirectory {
  entries(): AsyncIterable<[string, Handle]>;
}
interface MovableFile {
  move?(destination: FileSystemDirectoryHandle, name: string): Promise<void>;
}

/** A worker's `FileSystemSyncAccessHandle`, typed here since the page's DOM lib has none (this file runs in both). */
interface SyncAccessHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
interface SyncCapableFile {
  createSyncAccessHandle?(): Promise<SyncAccessHandle>;
}

/** The errno for a DOMException of the handle API (File System Standard, "errors"). */
export function errnoOf(error: unknown): number {
  if (error instanceof FsError) return error.errno;
  const name = error instanceof Error ? error.name : '';
  switch (name) {
    case 'NotFoundError':
      return E.ENOENT;
    case 'TypeMismatchError':
      return E.ENOTDIR;
    case 'InvalidModificationError':
      return E.ENOTEMPTY;
    case 'NoModificationAllowedError':
      return E.EBUSY;
    case 'QuotaExceededError':
      return E.ENOSPC;
    case 'NotAllowedError':
    case 'SecurityError':
      return E.EACCES;
    case 'TypeError':
      return E.EINVAL;
    default:
      return E.EIO;
  }
}

function asFsError(error: unknown): FsError {
  if (error instanceof FsError) return error;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new FsError(errnoOf(error), message);
}

const key = (path: readonly string[]) => path.join('/');

/** Moves the entries of `map` at or under `from` to `to`. */
function movePaths<T>(map: Map<string, T>, from: string, to: string): void {
  for (const [k, v] of [...map]) {
    if (k === from || k.startsWith(`${from}/`)) {
      map.delete(k);
      map.set(to + k.slice(from.length), v);
    }
  }
}

function dropPaths<T>(map: Map<string, T>, path: string): void {
  for (const k of [...map.keys()]) if (k === path || k.startsWith(`${path}/`)) map.delete(k);
}

function isDedicatedWorker(): boolean {
  const scope = globalThis as { constructor?: { name?: string } };
  return scope.constructor?.name === 'DedicatedWorkerGlobalScope';
}

export class DirectoryHandleTree implements FileTree {
  readonly readOnly: boolean;
  readonly #root: FileSystemDirectoryHandle;
  readonly #now: () => number;
  #syncAccess: boolean;
  readonly #startNs: bigint;
  #nextId = 2n;
  readonly #ids = new Map<string, bigint>([['', 1n]]);
  readonly #modes = new Map<string, number>();
  /** Times the guest set, valid while the file's lastModified is still `seen`. */
  readonly #times = new Map<string, { atimeNs: bigint; mtimeNs: bigint; seen: number }>();
  readonly #holds = new Map<string, number>();
  readonly #syncHandles = new Map<string, Promise<SyncAccessHandle | null>>();

  constructor(root: FileSystemDirectoryHandle, options: DirectoryHandleTreeOptions = {}) {
    this.#root = root;
    this.readOnly = options.readOnly ?? false;
    this.#now = options.now ?? Date.now;
    this.#syncAccess = options.syncAccess ?? isDedicatedWorker();
    this.#startNs = BigInt(Math.round(this.#now())) * 1_000_000n;
  }

  /** The directory at `path` (ENOTDIR if a name on the way is a file). */
  async #directory(path: readonly string[]): Promise<FileSystemDirectoryHandle> {
    let dir = this.#root;
    try {
      for (const name of path) dir = await dir.getDirectoryHandle(name);
    } catch (error) {
      throw asFsError(error);
    }
    return dir;
  }

  async #parent(path: readonly string[]): Promise<{ dir: FileSystemDirectoryHandle; name: string }> {
    if (path.length === 0) throw new FsError(E.EBUSY, 'the root has no parent');
    return { dir: await this.#directory(path.slice(0, -1)), name: path[path.length - 1]! };
  }

  /** The handle at `path`, a file or a directory. */
  async #handle(path: readonly string[]): Promise<Handle> {
    if (path.length === 0) return this.#root;
    const { dir, name } = await this.#parent(path);
    try {
      return await dir.getFileHandle(name);
    } catch (error) {
      if (!(error instanceof Error) || error.name !== 'TypeMismatchError') throw asFsError(error);
    }
    try {
      return await dir.getDirectoryHandle(name);
    } catch (error) {
      throw asFsError(error);
    }
  }

  async #file(path: readonly string[]): Promise<FileSystemFileHandle> {
    const handle = await this.#handle(path);
    if (handle.kind !== 'file') throw new FsError(E.EISDIR);
    return handle;
  }

  /** What the tree keeps by path, which follows a rename and goes with a remove. */
  #pathMaps(): Map<string, unknown>[] {
    return [this.#ids, this.#modes, this.#times, this.#holds];
  }

  #id(path: string): bigint {
    let id = this.#ids.get(path);
    if (id === undefined) this.#ids.set(path, (id = this.#nextId++));
    return id;
  }

  async getattr(path: readonly string[]): Promise<FileAttr> {
    const handle = await this.#handle(path);
    const k = key(path);
    const id = this.#id(k);
    const set = this.#times.get(k);
    if (handle.kind === 'directory') {
      const mtimeNs = set?.mtimeNs ?? this.#startNs;
      return {
        kind: 'directory',
        mode: this.#modes.get(k) ?? DIRECTORY_MODE,
        size: BLOCK_BYTES,
        nlink: 2,
        id,
        atimeNs: set?.atimeNs ?? mtimeNs,
        mtimeNs,
        ctimeNs: mtimeNs,
      };
    }
    const file = await this.#read(handle);
    const modifiedNs = BigInt(file.lastModified) * 1_000_000n;
    const valid = set && set.seen === file.lastModified ? set : undefined;
    return {
      kind: 'file',
      mode: this.#modes.get(k) ?? FILE_MODE,
      size: file.size,
      nlink: 1,
      id,
      atimeNs: valid?.atimeNs ?? modifiedNs,
      mtimeNs: valid?.mtimeNs ?? modifiedNs,
      ctimeNs: modifiedNs,
    };
  }

  async #read(handle: FileSystemFileHandle): Promise<File> {
    try {
      return await handle.getFile();
    } catch (error) {
      throw asFsError(error);
    }
  }

  async setattr(path: readonly string[], changes: SetAttr): Promise<void> {
    const handle = await this.#handle(path);
    const k = key(path);
    if (changes.size !== undefined) {
      if (handle.kind === 'directory') throw new FsError(E.EISDIR);
      await this.#change(
        k,
        handle,
        async (sync) => sync.truncate(changes.size!),
        async (w) => w.truncate(changes.size!),
      );
    }
    if (changes.mode !== undefined) this.#modes.set(k, changes.mode & 0o7777);
    if (changes.atimeNs !== undefined || changes.mtimeNs !== undefined) {
      const attr = await this.getattr(path);
      const seen = handle.kind === 'file' ? (await this.#read(handle)).lastModified : 0;
      this.#times.set(k, {
        atimeNs: changes.atimeNs ?? attr.atimeNs,
        mtimeNs: changes.mtimeNs ?? attr.mtimeNs,
        seen,
      });
    }
  }

  async readdir(path: readonly string[]): Promise<DirEntry[]> {
    const dir = await this.#directory(path);
    const prefix = path.length === 0 ? '' : `${key(path)}/`;
    const entries: DirEntry[] = [];
    try {
      for await (const [name, handle] of (dir as unknown as ListableDirectory).entries()) {
        entries.push({ name, kind: handle.kind, id: this.#id(prefix + name) });
      }
    } catch (error) {
      throw asFsError(error);
    }
    return entries;
  }

  async read(path: readonly string[], offset: number, length: number): Promise<Uint8Array> {
    const k = key(path);
    const sync = await this.#syncHandles.get(k)?.catch(() => null);
    if (sync) {
      const size = sync.getSize();
      if (offset >= size) return new Uint8Array(0);
      const bytes = new Uint8Array(Math.min(length, size - offset));
      return bytes.subarray(0, sync.read(bytes, { at: offset }));
    }
    const file = await this.#read(await this.#file(path));
    if (offset >= file.size) return new Uint8Array(0);
    try {
      return new Uint8Array(await file.slice(offset, Math.min(file.size, offset + length)).arrayBuffer());
    } catch (error) {
      throw asFsError(error);
    }
  }

  async write(path: readonly string[], offset: number, data: Uint8Array): Promise<void> {
    const handle = await this.#file(path);
    await this.#change(
      key(path),
      handle,
      async (sync) => {
        let done = 0;
        while (done < data.length) done += sync.write(data.subarray(done), { at: offset + done });
      },
      async (writable) => writable.write({ type: 'write', position: offset, data: data as Uint8Array<ArrayBuffer> }),
    );
  }

  /**
   * Changes a file's bytes: through a sync access handle (kept while a fid holds the file, else opened
   * for this change), or through a writable committed at once. A lock another context holds is waited
   * for a little, then EBUSY; a failure leaves the file as it was (a writable is aborted, not committed).
   */
  async #change(
    k: string,
    handle: FileSystemFileHandle,
    viaSync: (sync: SyncAccessHandle) => Promise<void>,
    viaWritable: (writable: FileSystemWritableFileStream) => Promise<void>,
  ): Promise<void> {
    const access = this.#syncAccess ? await this.#syncFor(k, handle) : null;
    if (access) {
      try {
        await viaSync(access.sync);
        access.sync.flush();
      } catch (error) {
        throw asFsError(error);
      } finally {
        if (!access.kept) access.sync.close();
      }
      this.#times.delete(k);
      return;
    }
    const writable = await this.#locked(() => handle.createWritable({ keepExistingData: true }));
    try {
      await viaWritable(writable);
    } catch (error) {
      await writable.abort().catch(() => undefined);
      throw asFsError(error);
    }
    try {
      await writable.close();
    } catch (error) {
      throw asFsError(error);
    }
    this.#times.delete(k);
  }

  /**
   * The sync access handle for a change at `k`: the one kept for a held file (opened at its first
   * write, so a guest that only reads never locks the page out), or one for this change alone.
   * Null where there are none (a picked folder; writables from then on).
   */
  async #syncFor(k: string, handle: FileSystemFileHandle): Promise<{ sync: SyncAccessHandle; kept: boolean } | null> {
    let opening = this.#syncHandles.get(k);
    if (!opening) {
      opening = this.#openSync(handle);
      if (!this.#holds.has(k)) {
        const sync = await opening;
        return sync && { sync, kept: false };
      }
      this.#syncHandles.set(k, opening);
    }
    try {
      const sync = await opening;
      if (!sync) this.#syncHandles.delete(k);
      return sync && { sync, kept: true };
    } catch (error) {
      if (this.#syncHandles.get(k) === opening) this.#syncHandles.delete(k);
      throw asFsError(error);
    }
  }

  /** A sync access handle on `handle`, or null when this kind of handle has none. */
  async #openSync(handle: FileSystemFileHandle): Promise<SyncAccessHandle | null> {
    try {
      const open = (handle as FileSystemFileHandle & SyncCapableFile).createSyncAccessHandle;
      if (!open) throw new TypeError('no sync access handles here');
      return await this.#locked(() => open.call(handle));
    } catch (error) {
      if (error instanceof FsError) throw error;
      // A handle outside the OPFS (a picked folder) or a context without them: InvalidStateError, TypeError.
      this.#syncAccess = false;
      return null;
    }
  }

  async #locked<T>(open: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await open();
      } catch (error) {
        const busy = error instanceof Error && error.name === 'NoModificationAllowedError';
        if (!busy) throw error;
        if (attempt === LOCK_RETRIES)
          throw new FsError(E.EBUSY, 'another tab or the page has this file open for writing');
        await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
      }
    }
  }

  async create(path: readonly string[], mode: number): Promise<void> {
    const { dir, name } = await this.#parent(path);
    if (await this.#exists(dir, name)) throw new FsError(E.EEXIST);
    try {
      await dir.getFileHandle(name, { create: true });
    } catch (error) {
      throw asFsError(error);
    }
    this.#fresh(key(path), mode);
  }

  async mkdir(path: readonly string[], mode: number): Promise<void> {
    const { dir, name } = await this.#parent(path);
    if (await this.#exists(dir, name)) throw new FsError(E.EEXIST);
    try {
      await dir.getDirectoryHandle(name, { create: true });
    } catch (error) {
      throw asFsError(error);
    }
    this.#fresh(key(path), mode);
  }

  /** A new file at `k`: its own id and the mode it was made with. */
  #fresh(k: string, mode: number): void {
    this.#ids.set(k, this.#nextId++);
    this.#modes.set(k, mode & 0o7777);
    this.#times.delete(k);
  }

  async #exists(dir: FileSystemDirectoryHandle, name: string): Promise<boolean> {
    try {
      await dir.getFileHandle(name);
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'TypeMismatchError') return true;
      if (error instanceof Error && error.name === 'NotFoundError') return false;
      throw asFsError(error);
    }
  }

  async symlink(): Promise<void> {
    throw new FsError(E.EOPNOTSUPP, 'the browser cannot store a symlink');
  }

  async readlink(path: readonly string[]): Promise<string> {
    await this.#handle(path);
    throw new FsError(E.EINVAL);
  }

  async rename(from: readonly string[], to: readonly string[]): Promise<void> {
    const node = await this.#handle(from);
    const target = await this.#parent(to);
    if (key(from) === key(to)) return;
    // rename(2): "EINVAL The new pathname contained a path prefix of the old".
    if (to.length > from.length && from.every((name, i) => to[i] === name)) throw new FsError(E.EINVAL);
    let replaced: Handle | null = null;
    try {
      replaced = await this.#handle(to);
    } catch (error) {
      if (!(error instanceof FsError) || error.errno !== E.ENOENT) throw error;
    }
    if (replaced) {
      if (node.kind === 'directory') {
        if (replaced.kind !== 'directory') throw new FsError(E.ENOTDIR);
        await this.#removeEntry(target.dir, target.name, false);
      } else if (replaced.kind === 'directory') throw new FsError(E.EISDIR);
    }
    // A file's sync handle blocks its move; the next request on the new path opens one again.
    await this.#closeSyncUnder(key(from));
    await this.#closeSyncUnder(key(to));
    const source = await this.#parent(from);
    if (node.kind === 'file') await this.#moveFile(node, source.dir, source.name, target.dir, target.name);
    else await this.#moveDirectory(node, source.dir, source.name, target.dir, target.name);
    for (const map of this.#pathMaps()) dropPaths(map, key(to));
    for (const map of this.#pathMaps()) movePaths(map, key(from), key(to));
  }

  async #moveFile(
    file: FileSystemFileHandle,
    fromDir: FileSystemDirectoryHandle,
    fromName: string,
    toDir: FileSystemDirectoryHandle,
    toName: string,
  ): Promise<void> {
    const movable = file as FileSystemFileHandle & MovableFile;
    try {
      if (movable.move) {
        await movable.move(toDir, toName);
        return;
      }
      // Without move(): copy, then remove the original only once the copy is whole.
      const copy = await toDir.getFileHandle(toName, { create: true });
      const writable = await copy.createWritable();
      await (await file.getFile()).stream().pipeTo(writable);
      await fromDir.removeEntry(fromName);
    } catch (error) {
      throw asFsError(error);
    }
  }

  async #moveDirectory(
    dir: FileSystemDirectoryHandle,
    fromDir: FileSystemDirectoryHandle,
    fromName: string,
    toDir: FileSystemDirectoryHandle,
    toName: string,
  ): Promise<void> {
    try {
      const copy = await toDir.getDirectoryHandle(toName, { create: true });
      for await (const [name, handle] of (dir as unknown as ListableDirectory).entries()) {
        if (handle.kind === 'file') await this.#moveFile(handle, dir, name, copy, name);
        else await this.#moveDirectory(handle, dir, name, copy, name);
      }
      await fromDir.removeEntry(fromName);
    } catch (error) {
      throw asFsError(error);
    }
  }

  async remove(path: readonly string[], directory: boolean): Promise<void> {
    const node = await this.#handle(path);
    if (directory && node.kind !== 'directory') throw new FsError(E.ENOTDIR);
    if (!directory && node.kind === 'directory') throw new FsError(E.EISDIR);
    const { dir, name } = await this.#parent(path);
    await this.#closeSyncUnder(key(path));
    await this.#removeEntry(dir, name, directory);
    for (const map of this.#pathMaps()) dropPaths(map, key(path));
  }

  async #removeEntry(dir: FileSystemDirectoryHandle, name: string, directory: boolean): Promise<void> {
    try {
      await dir.removeEntry(name);
    } catch (error) {
      // removeEntry refuses a non-empty directory with InvalidModificationError.
      if (directory && error instanceof Error && error.name === 'InvalidModificationError')
        throw new FsError(E.ENOTEMPTY);
      throw asFsError(error);
    }
  }

  async statfs(): Promise<FsStats> {
    const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
    const { quota = 0, usage = 0 } = storage ? await storage.estimate() : {};
    const blocks = BigInt(Math.floor(quota / BLOCK_BYTES));
    const used = BigInt(Math.ceil(usage / BLOCK_BYTES));
    return {
      blockSize: BLOCK_BYTES,
      blocks,
      blocksFree: blocks > used ? blocks - used : 0n,
      files: 1n << 20n,
      filesFree: (1n << 20n) - BigInt(this.#ids.size),
    };
  }

  hold(path: readonly string[]): void {
    const k = key(path);
    this.#holds.set(k, (this.#holds.get(k) ?? 0) + 1);
  }

  release(path: readonly string[]): void {
    const k = key(path);
    const count = (this.#holds.get(k) ?? 0) - 1;
    if (count > 0) {
      this.#holds.set(k, count);
      return;
    }
    this.#holds.delete(k);
    void this.#closeSyncUnder(k);
  }

  /** Closes the sync handles held at or under `path` (before a move or a remove, which they would block). */
  async #closeSyncUnder(path: string): Promise<void> {
    for (const [k, opening] of [...this.#syncHandles]) {
      if (k !== path && !k.startsWith(`${path}/`)) continue;
      this.#syncHandles.delete(k);
      await opening.then(
        (sync) => sync?.close(),
        () => undefined,
      );
    }
  }
}
