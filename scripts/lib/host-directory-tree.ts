/**
 * A host directory as a share's file tree (`npm run vm -- --share DIR`), as QEMU's `-virtfs local`
 * with security_model=none: the guest's files are the host's files, with the host's modes and times.
 *
 * Containment: nothing outside DIR is reachable. The server hands over names without '/', '.' or '..'
 * (workers/host/9p/server.ts), and this tree never follows a symlink: every directory on the way to a
 * name must be a real directory (realpath of the parent equals the path built from DIR's realpath),
 * and the last name is used with lstat, O_NOFOLLOW, O_EXCL or calls that do not follow a symlink
 * (rename, unlink, rmdir, mkdir, readlink, link). Each operation checks and acts in one synchronous
 * run, so no other guest request can change the tree between its check and its use; only a host
 * process racing the guest could, and the host's own processes are the host's business.
 *
 * Open files: while a fid holds a regular file open (`hold` … `release`), its reads and writes go
 * through a descriptor opened once, on the first read or write, with the same checks (parent realpath,
 * O_NOFOLLOW, a regular file), instead of an open, check and close per request. Such a descriptor
 * names the file that was inside DIR when it was opened, and nothing else, ever: it stays valid while
 * the guest's own operations leave that file at its path. A guest rename moves it with the fids (it
 * still names the same file, still inside DIR); a rename onto its path or a remove of it closes it (the
 * path now names another file, or none, and the next read opens that path again). A host process that
 * replaces or moves the file meanwhile is not seen through the open fid, as with QEMU's fd per fid.
 * At most MAX_HELD_DESCRIPTORS are open at once; past that, requests open and close as before.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { E } from '../../workers/host/9p/protocol.ts';
import {
  FsError,
  type DirEntry,
  type FileAttr,
  type FileKind,
  type FileTree,
  type FsStats,
  type SetAttr,
} from '../../workers/host/9p/file-tree.ts';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Descriptors the tree keeps open for held files at most (Node's default limit is far higher). */
export const MAX_HELD_DESCRIPTORS = 128;

/** A file fids hold open: how many holds, and the descriptors opened for it so far. */
interface HeldFile {
  holds: number;
  reader?: number;
  writer?: number;
}

export class HostDirectoryTree implements FileTree {
  readonly readOnly: boolean;
  /** DIR with every symlink in it resolved: the prefix every path this tree touches has. */
  readonly root: string;
  /** Held files by path (names joined by '/', which no name contains). */
  readonly #held = new Map<string, HeldFile>();
  #descriptors = 0;

  /** Throws a plain sentence when DIR is missing or not a directory. */
  constructor(directory: string, readOnly = false) {
    let root: string;
    try {
      root = fs.realpathSync(directory);
    } catch {
      throw new Error(`the shared folder ${directory} does not exist`);
    }
    if (!fs.statSync(root).isDirectory()) throw new Error(`the shared folder ${directory} is not a directory`);
    this.root = root;
    this.readOnly = readOnly;
  }

  /** The host path of `names`, once every directory on the way to it is checked to be a real one. */
  #resolve(names: readonly string[]): string {
    const parent = path.join(this.root, ...names.slice(0, -1));
    if (names.length > 1 && fs.realpathSync(parent) !== parent) throw new FsError(E.ELOOP, 'a symlink on the way');
    return path.join(this.root, ...names);
  }

  async getattr(names: readonly string[]): Promise<FileAttr> {
    return host(() => attrOf(fs.lstatSync(this.#resolve(names), { bigint: true })));
  }

  async setattr(names: readonly string[], changes: SetAttr): Promise<void> {
    this.#writable();
    host(() => {
      const file = this.#resolve(names);
      const stat = fs.lstatSync(file, { bigint: true });
      if (stat.isSymbolicLink()) {
        // Linux has no modes or sizes for symlinks; their times are set without following them.
        if (changes.mode !== undefined || changes.size !== undefined) throw new FsError(E.EOPNOTSUPP);
        if (changes.atimeNs !== undefined || changes.mtimeNs !== undefined)
          fs.lutimesSync(file, seconds(changes.atimeNs ?? stat.atimeNs), seconds(changes.mtimeNs ?? stat.mtimeNs));
        return;
      }
      const fd = fs.openSync(file, (changes.size !== undefined ? O_WRONLY : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK);
      try {
        if (changes.size !== undefined) fs.ftruncateSync(fd, changes.size);
        if (changes.mode !== undefined) fs.fchmodSync(fd, changes.mode & 0o7777);
        if (changes.atimeNs !== undefined || changes.mtimeNs !== undefined)
          fs.futimesSync(fd, seconds(changes.atimeNs ?? stat.atimeNs), seconds(changes.mtimeNs ?? stat.mtimeNs));
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  async readdir(names: readonly string[]): Promise<DirEntry[]> {
    return host(() => {
      const dir = this.#resolve(names);
      const entries: DirEntry[] = [];
      for (const name of fs.readdirSync(dir)) {
        let stat: fs.BigIntStats;
        try {
          stat = fs.lstatSync(path.join(dir, name), { bigint: true });
        } catch {
          continue; // gone since the listing
        }
        const kind = kindOf(stat);
        // Fifos, sockets and devices are not shared: the guest could not use them.
        if (kind) entries.push({ name, kind, id: stat.ino });
      }
      return entries;
    });
  }

  async read(names: readonly string[], offset: number, length: number): Promise<Uint8Array> {
    const read = (fd: number) => {
      const buffer = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, buffer, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return buffer.subarray(0, done);
    };
    return host(() => {
      const fd = this.#heldDescriptor(names, 'reader');
      return fd === undefined ? withRegularFile(this.#resolve(names), O_RDONLY, read) : read(fd);
    });
  }

  async write(names: readonly string[], offset: number, data: Uint8Array): Promise<void> {
    this.#writable();
    const write = (fd: number) => {
      let done = 0;
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
    };
    host(() => {
      const fd = this.#heldDescriptor(names, 'writer');
      if (fd === undefined) withRegularFile(this.#resolve(names), O_WRONLY, write);
      else write(fd);
    });
  }

  hold(names: readonly string[]): void {
    const key = names.join('/');
    const held = this.#held.get(key);
    if (held) held.holds++;
    else this.#held.set(key, { holds: 1 });
  }

  release(names: readonly string[]): void {
    const key = names.join('/');
    const held = this.#held.get(key);
    if (!held) return;
    if (--held.holds > 0) return;
    this.#close(held);
    this.#held.delete(key);
  }

  /** The descriptor a held file reads or writes through, opened now if need be; undefined when not held. */
  #heldDescriptor(names: readonly string[], use: 'reader' | 'writer'): number | undefined {
    const held = this.#held.get(names.join('/'));
    if (!held) return undefined;
    const open = held[use];
    if (open !== undefined) return open;
    if (this.#descriptors >= MAX_HELD_DESCRIPTORS) return undefined;
    const fd = openRegularFile(this.#resolve(names), use === 'reader' ? O_RDONLY : O_WRONLY);
    held[use] = fd;
    this.#descriptors++;
    return fd;
  }

  #close(held: HeldFile): void {
    for (const use of ['reader', 'writer'] as const) {
      const fd = held[use];
      if (fd === undefined) continue;
      fs.closeSync(fd);
      delete held[use];
      this.#descriptors--;
    }
  }

  /**
   * After the guest renamed `from` to `to`: descriptors at `to` close (it names another file now), and
   * the held files at or under `from` move to the same place under `to`, with their holds (the server's
   * fids moved the same way).
   */
  #moveHeld(from: readonly string[], to: readonly string[]): void {
    const under = (key: string, prefix: string) => key === prefix || key.startsWith(`${prefix}/`);
    const fromKey = from.join('/');
    const toKey = to.join('/');
    for (const [key, held] of this.#held) if (under(key, toKey)) this.#close(held);
    const moving = [...this.#held].filter(([key]) => under(key, fromKey));
    for (const [key] of moving) this.#held.delete(key);
    for (const [key, held] of moving) {
      const moved = toKey + key.slice(fromKey.length);
      const there = this.#held.get(moved);
      // Fids that stayed at `to` name the moved file now, as the moved fids do: one entry for them all.
      if (there) held.holds += there.holds;
      this.#held.set(moved, held);
    }
  }

  async create(names: readonly string[], mode: number): Promise<void> {
    this.#writable();
    host(() =>
      fs.closeSync(fs.openSync(this.#resolve(names), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, mode & 0o7777)),
    );
  }

  async mkdir(names: readonly string[], mode: number): Promise<void> {
    this.#writable();
    host(() => fs.mkdirSync(this.#resolve(names), { mode: mode & 0o7777 }));
  }

  async symlink(names: readonly string[], target: string): Promise<void> {
    this.#writable();
    // The target is stored as the guest wrote it; this tree never follows it (the guest resolves it).
    host(() => fs.symlinkSync(target, this.#resolve(names)));
  }

  async readlink(names: readonly string[]): Promise<string> {
    return host(() => fs.readlinkSync(this.#resolve(names)));
  }

  async link(existing: readonly string[], names: readonly string[]): Promise<void> {
    this.#writable();
    // link(2) on Linux does not follow a symlink at `existing`.
    host(() => fs.linkSync(this.#resolve(existing), this.#resolve(names)));
  }

  async rename(from: readonly string[], to: readonly string[]): Promise<void> {
    this.#writable();
    host(() => fs.renameSync(this.#resolve(from), this.#resolve(to)));
    this.#moveHeld(from, to);
  }

  async remove(names: readonly string[], directory: boolean): Promise<void> {
    this.#writable();
    host(() => {
      const file = this.#resolve(names);
      if (directory) fs.rmdirSync(file);
      else fs.unlinkSync(file);
    });
    // The path names no file now: a fid still holding it opens the path again, as before.
    const held = this.#held.get(names.join('/'));
    if (held) this.#close(held);
  }

  async statfs(): Promise<FsStats> {
    return host(() => {
      const s = fs.statfsSync(this.root, { bigint: true });
      return {
        blockSize: Number(s.bsize),
        blocks: s.blocks,
        blocksFree: s.bavail,
        files: s.files,
        filesFree: s.ffree,
      };
    });
  }

  #writable(): void {
    if (this.readOnly) throw new FsError(E.EROFS);
  }
}

/** Runs a host call, turning Node's errors into the guest's errno (EIO for one Linux has no name for here). */
function host<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof FsError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const errno = code && code in E ? E[code as keyof typeof E] : E.EIO;
    throw new FsError(errno, (error as Error).message);
  }
}

/** Opens a regular file without following a symlink or blocking on a fifo; EISDIR or EINVAL for anything else. */
function openRegularFile(file: string, access: number): number {
  const fd = fs.openSync(file, access | O_NOFOLLOW | O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new FsError(E.EISDIR);
    if (!stat.isFile()) throw new FsError(E.EINVAL);
    return fd;
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** Opens a regular file as `openRegularFile` does, runs `use` on it, and closes it. */
function withRegularFile<T>(file: string, access: number, use: (fd: number) => T): T {
  const fd = openRegularFile(file, access);
  try {
    return use(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function kindOf(stat: fs.BigIntStats): FileKind | undefined {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  return undefined;
}

function attrOf(stat: fs.BigIntStats): FileAttr {
  const kind = kindOf(stat);
  // A fifo, socket or device that a host process put in the share reads as an empty file.
  return {
    kind: kind ?? 'file',
    mode: Number(stat.mode) & 0o7777,
    size: kind ? Number(stat.size) : 0,
    nlink: Number(stat.nlink),
    id: stat.ino,
    atimeNs: stat.atimeNs,
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
  };
}

function seconds(ns: bigint): number {
  return Number(ns) / 1e9;
}
