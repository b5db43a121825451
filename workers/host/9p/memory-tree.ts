/**
 * A file tree in memory: for tests, and for the embed API's files (issue 14). Behaves as a POSIX file
 * system does for what the 9p server asks (file-tree.ts), with hard links and symlinks; symlinks are
 * never followed. Sizes are bounded by `maxBytes` in total (ENOSPC past it).
 */
import { E } from './protocol.ts';
import { FsError, type DirEntry, type FileAttr, type FileTree, type FsStats, type SetAttr } from './file-tree.ts';

interface Inode {
  readonly id: bigint;
  readonly kind: 'file' | 'directory' | 'symlink';
  mode: number;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  data: Uint8Array;
  size: number;
  readonly children: Map<string, Inode>;
  target: string;
}

const BLOCK_BYTES = 4096;

export interface MemoryTreeOptions {
  readonly readOnly?: boolean;
  /** Bytes all files may hold together; default 256 MiB. */
  readonly maxBytes?: number;
  /** Wall-clock time in ms, for file times; default Date.now. */
  readonly now?: () => number;
}

export class MemoryTree implements FileTree {
  readonly readOnly: boolean;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #nextId = 1n;
  #usedBytes = 0;
  readonly #root: Inode;

  constructor(options: MemoryTreeOptions = {}) {
    this.readOnly = options.readOnly ?? false;
    this.#maxBytes = options.maxBytes ?? 256 << 20;
    this.#now = options.now ?? Date.now;
    this.#root = this.#inode('directory', 0o755);
  }

  #time(): bigint {
    return BigInt(Math.round(this.#now())) * 1_000_000n;
  }

  #inode(kind: Inode['kind'], mode: number): Inode {
    const t = this.#time();
    return {
      id: this.#nextId++,
      kind,
      mode: mode & 0o7777,
      nlink: kind === 'directory' ? 2 : 1,
      atimeNs: t,
      mtimeNs: t,
      ctimeNs: t,
      data: new Uint8Array(0),
      size: 0,
      children: new Map(),
      target: '',
    };
  }

  #find(path: readonly string[]): Inode {
    let node = this.#root;
    for (const name of path) {
      if (node.kind !== 'directory') throw new FsError(E.ENOTDIR);
      const next = node.children.get(name);
      if (!next) throw new FsError(E.ENOENT);
      node = next;
    }
    return node;
  }

  /** The directory that holds `path`'s last name, and that name. */
  #parent(path: readonly string[]): { dir: Inode; name: string } {
    if (path.length === 0) throw new FsError(E.EBUSY, 'the root has no parent');
    const dir = this.#find(path.slice(0, -1));
    if (dir.kind !== 'directory') throw new FsError(E.ENOTDIR);
    return { dir, name: path[path.length - 1]! };
  }

  #add(path: readonly string[], node: Inode): void {
    const { dir, name } = this.#parent(path);
    if (dir.children.has(name)) throw new FsError(E.EEXIST);
    dir.children.set(name, node);
    if (node.kind === 'directory') dir.nlink++;
    dir.mtimeNs = dir.ctimeNs = this.#time();
  }

  /** Sets a file's size, within the tree's byte budget. */
  #resize(node: Inode, size: number): void {
    if (size > node.size && this.#usedBytes + (size - node.size) > this.#maxBytes) throw new FsError(E.ENOSPC);
    if (size > node.data.length) {
      const grown = new Uint8Array(Math.max(size, Math.min(node.data.length * 2, size + (1 << 20))));
      grown.set(node.data.subarray(0, node.size));
      node.data = grown;
    } else if (size < node.size) node.data.fill(0, size, node.size);
    this.#usedBytes += size - node.size;
    node.size = size;
  }

  async getattr(path: readonly string[]): Promise<FileAttr> {
    const n = this.#find(path);
    return {
      kind: n.kind,
      mode: n.mode,
      size:
        n.kind === 'symlink'
          ? new TextEncoder().encode(n.target).length
          : n.kind === 'directory'
            ? BLOCK_BYTES
            : n.size,
      nlink: n.nlink,
      id: n.id,
      atimeNs: n.atimeNs,
      mtimeNs: n.mtimeNs,
      ctimeNs: n.ctimeNs,
    };
  }

  async setattr(path: readonly string[], changes: SetAttr): Promise<void> {
    const n = this.#find(path);
    if (changes.size !== undefined) {
      if (n.kind === 'directory') throw new FsError(E.EISDIR);
      if (n.kind !== 'file') throw new FsError(E.EINVAL);
      this.#resize(n, changes.size);
      n.mtimeNs = this.#time();
    }
    if (changes.mode !== undefined) n.mode = changes.mode & 0o7777;
    if (changes.atimeNs !== undefined) n.atimeNs = changes.atimeNs;
    if (changes.mtimeNs !== undefined) n.mtimeNs = changes.mtimeNs;
    n.ctimeNs = this.#time();
  }

  async readdir(path: readonly string[]): Promise<DirEntry[]> {
    const dir = this.#find(path);
    if (dir.kind !== 'directory') throw new FsError(E.ENOTDIR);
    return [...dir.children].map(([name, node]) => ({ name, kind: node.kind, id: node.id }));
  }

  async read(path: readonly string[], offset: number, length: number): Promise<Uint8Array> {
    const n = this.#find(path);
    if (n.kind === 'directory') throw new FsError(E.EISDIR);
    if (n.kind !== 'file') throw new FsError(E.EINVAL);
    n.atimeNs = this.#time();
    if (offset >= n.size) return new Uint8Array(0);
    return n.data.slice(offset, Math.min(n.size, offset + length));
  }

  async write(path: readonly string[], offset: number, data: Uint8Array): Promise<void> {
    const n = this.#find(path);
    if (n.kind === 'directory') throw new FsError(E.EISDIR);
    if (n.kind !== 'file') throw new FsError(E.EINVAL);
    if (offset + data.length > n.size) this.#resize(n, offset + data.length);
    n.data.set(data, offset);
    n.mtimeNs = n.ctimeNs = this.#time();
  }

  async create(path: readonly string[], mode: number): Promise<void> {
    this.#add(path, this.#inode('file', mode));
  }

  async mkdir(path: readonly string[], mode: number): Promise<void> {
    this.#add(path, this.#inode('directory', mode));
  }

  async symlink(path: readonly string[], target: string): Promise<void> {
    const node = this.#inode('symlink', 0o777);
    node.target = target;
    this.#add(path, node);
  }

  async readlink(path: readonly string[]): Promise<string> {
    const n = this.#find(path);
    if (n.kind !== 'symlink') throw new FsError(E.EINVAL);
    return n.target;
  }

  async link(existing: readonly string[], path: readonly string[]): Promise<void> {
    const n = this.#find(existing);
    if (n.kind === 'directory') throw new FsError(E.EPERM);
    this.#add(path, n);
    n.nlink++;
    n.ctimeNs = this.#time();
  }

  async rename(from: readonly string[], to: readonly string[]): Promise<void> {
    const source = this.#parent(from);
    const node = source.dir.children.get(source.name);
    if (!node) throw new FsError(E.ENOENT);
    const target = this.#parent(to);
    // rename(2): "EINVAL The new pathname contained a path prefix of the old".
    if (to.length > from.length && from.every((name, i) => to[i] === name)) throw new FsError(E.EINVAL);
    const replaced = target.dir.children.get(target.name);
    if (replaced === node) return;
    if (replaced) {
      if (node.kind === 'directory') {
        if (replaced.kind !== 'directory') throw new FsError(E.ENOTDIR);
        if (replaced.children.size > 0) throw new FsError(E.ENOTEMPTY);
      } else if (replaced.kind === 'directory') throw new FsError(E.EISDIR);
      this.#drop(target.dir, target.name, replaced);
    }
    source.dir.children.delete(source.name);
    if (node.kind === 'directory') source.dir.nlink--;
    target.dir.children.set(target.name, node);
    if (node.kind === 'directory') target.dir.nlink++;
    const t = this.#time();
    source.dir.mtimeNs = target.dir.mtimeNs = node.ctimeNs = t;
  }

  async remove(path: readonly string[], directory: boolean): Promise<void> {
    const { dir, name } = this.#parent(path);
    const node = dir.children.get(name);
    if (!node) throw new FsError(E.ENOENT);
    if (directory) {
      if (node.kind !== 'directory') throw new FsError(E.ENOTDIR);
      if (node.children.size > 0) throw new FsError(E.ENOTEMPTY);
    } else if (node.kind === 'directory') throw new FsError(E.EISDIR);
    this.#drop(dir, name, node);
  }

  #drop(dir: Inode, name: string, node: Inode): void {
    dir.children.delete(name);
    if (node.kind === 'directory') dir.nlink--;
    node.nlink--;
    if (node.kind === 'file' && node.nlink === 0) this.#resize(node, 0);
    dir.mtimeNs = dir.ctimeNs = this.#time();
  }

  async statfs(): Promise<FsStats> {
    const blocks = BigInt(Math.ceil(this.#maxBytes / BLOCK_BYTES));
    const used = BigInt(Math.ceil(this.#usedBytes / BLOCK_BYTES));
    return {
      blockSize: BLOCK_BYTES,
      blocks,
      blocksFree: blocks - used,
      files: 1n << 20n,
      filesFree: (1n << 20n) - this.#nextId,
    };
  }
}
