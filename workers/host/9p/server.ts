/**
 * A 9P2000.L file server over a `FileTree` (file-tree.ts): what sits behind a virtio-9p device (the
 * device hands it each T-message and sends back the R-message; `NinePPort`). It answers every message
 * Linux's 9p client sends with version=9p2000.L (docs/shared-folders.md lists them and the errno of
 * each refusal). Fids name paths, not open host files: every operation goes to the backend by path, so
 * a fid survives a snapshot restore as its path and open flags (saveState), and a backend needs no
 * handles of its own.
 *
 * A hostile guest is answered, never obeyed blindly: every message is decoded within its own length
 * (protocol.ts), counts are clamped to msize and to the room the guest gave for the reply, names with
 * '/' or NUL are refused, '..' at the root stays at the root (as QEMU does), and the fid table is
 * bounded. Errors are Linux errno values as QEMU's 9p server gives them where Linux has a choice
 * (an unknown fid is ENOENT, a fid number in use EINVAL).
 */
import { FsError, type FileAttr, type FileKind, type FileTree } from './file-tree.ts';
import {
  AT_REMOVEDIR,
  ATTR_ATIME,
  ATTR_ATIME_SET,
  ATTR_MODE,
  ATTR_MTIME,
  ATTR_MTIME_SET,
  ATTR_SIZE,
  DT_DIR,
  DT_LNK,
  DT_REG,
  E,
  GETATTR_BASIC,
  HEADER_BYTES,
  LOCK_SUCCESS,
  LOCK_TYPE_UNLCK,
  MAXWELEM,
  MessageReader,
  MessageWriter,
  NOFID,
  NOTAG,
  O_ACCMODE,
  O_APPEND,
  O_EXCL,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  P9,
  ProtocolError,
  QID_BYTES,
  QTDIR,
  QTFILE,
  QTSYMLINK,
  RREAD_HEADER_BYTES,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  V9FS_MAGIC,
  VERSION_9P2000_L,
  encodedStringBytes,
  type Qid,
} from './protocol.ts';

/** What a 9p transport talks to: in this thread (the server itself) or, later, a channel to the page. */
export interface NinePPort {
  /**
   * Answers one T-message with its R-message, at most `replyLimit` bytes (the room the guest gave).
   * Never rejects: every failure is an Rlerror.
   */
  handle(request: Uint8Array, replyLimit: number): Promise<Uint8Array>;
  /** The transport was reset (the driver wrote status 0, or the machine rebooted): forget every fid. */
  reset(): void;
  saveState(): NinePServerState;
  loadState(state: NinePServerState): void;
}

/** One fid as a snapshot keeps it: the path it names and how it was opened. */
export interface NinePFidState {
  readonly fid: number;
  readonly path: readonly string[];
  readonly kind: FileKind;
  /** Tlopen/Tlcreate flags, or null while not open. */
  readonly openFlags: number | null;
  /** A fid made by Txattrwalk (reads as an empty attribute). */
  readonly xattr?: true;
}

export interface NinePServerState {
  readonly v: 1;
  readonly msize: number;
  readonly fids: readonly NinePFidState[];
}

/** Linux's virtio transport sends at most 128 pages per request (net/9p/trans_virtio.c, VIRTQUEUE_NUM). */
export const NINEP_MAX_MSIZE = 512 * 1024;
/** Below this QEMU warns that the client is broken; Linux never asks for less. */
export const NINEP_MIN_MSIZE = 4096;
/** Fids one guest may hold at once; past it, walks and attaches get ENFILE. */
export const NINEP_MAX_FIDS = 65536;
/** Linux's NAME_MAX: longer names get ENAMETOOLONG. */
const NAME_MAX = 255;
const BLOCK_BYTES = 4096;
const ENFILE = 23;

interface Fid {
  path: string[];
  kind: FileKind;
  openFlags: number | null;
  xattr: boolean;
  /** The tree holds the open file for this fid (FileTree.hold) until it is clunked. */
  held?: true;
  /** A directory's listing from Treaddir at offset 0, so later offsets index the same list. */
  listing?: { name: string; kind: FileKind; id: bigint }[];
}

type Handler = (request: MessageReader, reply: MessageWriter, limit: number) => Promise<void>;

export class NinePServer implements NinePPort {
  readonly #tree: FileTree;
  #msize = 8192;
  readonly #fids = new Map<number, Fid>();
  /** Requests in progress by tag: Tflush answers only after the request it flushes has been answered. */
  readonly #inFlight = new Map<number, Promise<unknown>>();
  readonly #handlers: ReadonlyMap<number, Handler>;

  constructor(tree: FileTree) {
    this.#tree = tree;
    this.#handlers = new Map<number, Handler>([
      [P9.Tversion, (r, w) => this.#version(r, w)],
      [P9.Tauth, () => Promise.reject(new FsError(E.EOPNOTSUPP, 'no authentication'))],
      [P9.Tattach, (r, w) => this.#attach(r, w)],
      [P9.Twalk, (r, w) => this.#walk(r, w)],
      [P9.Tgetattr, (r, w) => this.#getattr(r, w)],
      [P9.Tsetattr, (r) => this.#setattr(r)],
      [P9.Tlopen, (r, w) => this.#lopen(r, w)],
      [P9.Tlcreate, (r, w) => this.#lcreate(r, w)],
      [P9.Tread, (r, w, limit) => this.#read(r, w, limit)],
      [P9.Twrite, (r, w) => this.#write(r, w)],
      [P9.Treaddir, (r, w, limit) => this.#readdir(r, w, limit)],
      [P9.Tmkdir, (r, w) => this.#mkdir(r, w)],
      [P9.Tsymlink, (r, w) => this.#symlink(r, w)],
      [P9.Tmknod, () => Promise.reject(new FsError(E.EOPNOTSUPP, 'no device nodes, fifos or sockets in a share'))],
      [P9.Treadlink, (r, w) => this.#readlink(r, w)],
      [P9.Tlink, (r) => this.#link(r)],
      [P9.Trename, (r) => this.#rename(r)],
      [P9.Trenameat, (r) => this.#renameat(r)],
      [P9.Tunlinkat, (r) => this.#unlinkat(r)],
      [P9.Tremove, (r) => this.#remove(r)],
      [P9.Tstatfs, (r, w) => this.#statfs(r, w)],
      [P9.Tfsync, (r) => this.#fsync(r)],
      [P9.Tclunk, (r) => this.#clunk(r)],
      [P9.Tflush, (r) => this.#flush(r)],
      [P9.Txattrwalk, (r, w) => this.#xattrwalk(r, w)],
      [P9.Txattrcreate, () => Promise.reject(new FsError(E.EOPNOTSUPP, 'no extended attributes'))],
      [P9.Tlock, (r, w) => this.#lock(r, w)],
      [P9.Tgetlock, (r, w) => this.#getlock(r, w)],
    ]);
  }

  get msize(): number {
    return this.#msize;
  }

  /** How many fids the guest holds. */
  get fidCount(): number {
    return this.#fids.size;
  }

  async handle(request: Uint8Array, replyLimit: number): Promise<Uint8Array> {
    if (request.length < HEADER_BYTES) return lerror(NOTAG, E.EPROTO);
    const header = new DataView(request.buffer, request.byteOffset, HEADER_BYTES);
    const size = header.getUint32(0, true);
    const type = header.getUint8(4);
    const tag = header.getUint16(5, true);
    // A size that disagrees with the bytes the guest gave, or one past msize, is refused whole.
    if (size < HEADER_BYTES || size > request.length || size > this.#msize) return lerror(tag, E.EPROTO);
    if (tag !== NOTAG && this.#inFlight.has(tag)) return lerror(tag, E.EPROTO);
    const handler = this.#handlers.get(type);
    if (type % 2 === 1 || !handler) return lerror(tag, E.EOPNOTSUPP);
    const limit = Math.min(replyLimit, this.#msize);
    const reply = new MessageWriter(type + 1, tag);
    const work = handler(new MessageReader(request.subarray(0, size), HEADER_BYTES), reply, limit);
    if (tag !== NOTAG)
      this.#inFlight.set(
        tag,
        work.catch(() => undefined),
      );
    try {
      await work;
      const bytes = reply.finish();
      return bytes.length <= limit ? bytes : lerror(tag, E.ERANGE);
    } catch (error) {
      if (error instanceof FsError) return lerror(tag, error.errno);
      if (error instanceof ProtocolError) return lerror(tag, E.EPROTO);
      if (error instanceof RangeError) return lerror(tag, E.EINVAL);
      return lerror(tag, E.EIO);
    } finally {
      if (tag !== NOTAG) this.#inFlight.delete(tag);
    }
  }

  reset(): void {
    this.#clunkAll();
    this.#msize = 8192;
  }

  saveState(): NinePServerState {
    return {
      v: 1,
      msize: this.#msize,
      fids: [...this.#fids].map(([fid, f]) => ({
        fid,
        path: [...f.path],
        kind: f.kind,
        openFlags: f.openFlags,
        ...(f.xattr ? { xattr: true as const } : {}),
      })),
    };
  }

  loadState(state: NinePServerState): void {
    if (state.v !== 1) throw new Error(`9p server: unknown state version ${String(state.v)}`);
    this.#clunkAll();
    this.#msize = Math.min(Math.max(state.msize, NINEP_MIN_MSIZE), NINEP_MAX_MSIZE);
    for (const f of state.fids.slice(0, NINEP_MAX_FIDS)) {
      const path = f.path.map((name) => checkName(name));
      const fid: Fid = { path, kind: f.kind, openFlags: f.openFlags, xattr: f.xattr === true };
      this.#fids.set(f.fid >>> 0, fid);
      if (f.kind === 'file' && f.openFlags !== null) this.#hold(fid);
    }
  }

  /** Forgets fid `number`, telling the tree when an open file is let go of. */
  #clunkFid(number: number, fid: Fid): void {
    this.#fids.delete(number);
    if (fid.held) this.#tree.release?.(fid.path);
  }

  #hold(fid: Fid): void {
    fid.held = true;
    this.#tree.hold?.(fid.path);
  }

  #clunkAll(): void {
    for (const [number, fid] of this.#fids) this.#clunkFid(number, fid);
  }

  // ---- fids and names ----

  #fid(number: number): Fid {
    const fid = this.#fids.get(number);
    if (!fid) throw new FsError(E.ENOENT, `unknown fid ${number}`);
    return fid;
  }

  #newFid(number: number, fid: Fid): void {
    if (number === NOFID || this.#fids.has(number)) throw new FsError(E.EINVAL, `fid ${number} in use`);
    if (this.#fids.size >= NINEP_MAX_FIDS) throw new FsError(ENFILE, 'too many fids');
    this.#fids.set(number, fid);
  }

  #directory(number: number): Fid {
    const fid = this.#fid(number);
    if (fid.kind !== 'directory') throw new FsError(E.ENOTDIR);
    return fid;
  }

  #writable(): void {
    if (this.#tree.readOnly) throw new FsError(E.EROFS);
  }

  async #qid(path: readonly string[]): Promise<{ qid: Qid; attr: FileAttr }> {
    const attr = await this.#tree.getattr(path);
    return { qid: qidOf(attr), attr };
  }

  // ---- messages ----

  async #version(r: MessageReader, w: MessageWriter): Promise<void> {
    const msize = r.u32();
    const version = r.string();
    if (msize < NINEP_MIN_MSIZE) throw new FsError(E.EINVAL, `msize ${msize} below ${NINEP_MIN_MSIZE}`);
    // Tversion "aborts all outstanding I/O" and clunks every fid (version(5)).
    this.#clunkAll();
    this.#msize = Math.min(msize, NINEP_MAX_MSIZE);
    w.u32(this.#msize).string(version.startsWith(VERSION_9P2000_L) ? VERSION_9P2000_L : 'unknown');
  }

  async #attach(r: MessageReader, w: MessageWriter): Promise<void> {
    const fid = r.u32();
    r.u32(); // afid: no authentication
    r.string(); // uname
    r.string(); // aname: a share has one tree
    r.u32(); // n_uname
    const { qid, attr } = await this.#qid([]);
    this.#newFid(fid, { path: [], kind: attr.kind, openFlags: null, xattr: false });
    w.qid(qid);
  }

  async #walk(r: MessageReader, w: MessageWriter): Promise<void> {
    const fidNumber = r.u32();
    const newFid = r.u32();
    const count = r.u16();
    if (count > MAXWELEM) throw new FsError(E.EINVAL, `walk of ${count} names`);
    const names: string[] = [];
    for (let i = 0; i < count; i++) names.push(walkName(r.string()));
    const fid = this.#fid(fidNumber);
    if (newFid !== fidNumber && this.#fids.has(newFid)) throw new FsError(E.EINVAL, `fid ${newFid} in use`);
    let path = [...fid.path];
    let kind = fid.kind;
    const qids: Qid[] = [];
    for (const name of names) {
      try {
        if (kind !== 'directory') throw new FsError(E.ENOTDIR);
        const next = name === '..' ? path.slice(0, -1) : name === '.' ? path : [...path, name];
        const { qid, attr } = await this.#qid(next);
        path = next;
        kind = attr.kind;
        qids.push(qid);
      } catch (error) {
        // The first name failing is an error; a later one ends the walk short and leaves newfid unmade.
        if (qids.length === 0) throw error;
        break;
      }
    }
    if (qids.length === names.length) {
      if (newFid === fidNumber) {
        if (fid.openFlags !== null) throw new FsError(E.EINVAL, 'walk of an open fid onto itself');
        fid.path = path;
        fid.kind = kind;
        delete fid.listing;
      } else this.#newFid(newFid, { path, kind, openFlags: null, xattr: false });
    }
    w.u16(qids.length);
    for (const qid of qids) w.qid(qid);
  }

  async #getattr(r: MessageReader, w: MessageWriter): Promise<void> {
    const fid = this.#fid(r.u32());
    r.u64(); // request_mask: the basic fields are always sent, as QEMU does
    const { qid, attr } = await this.#qid(fid.path);
    const type = attr.kind === 'directory' ? S_IFDIR : attr.kind === 'symlink' ? S_IFLNK : S_IFREG;
    const [atime, mtime, ctime] = [attr.atimeNs, attr.mtimeNs, attr.ctimeNs];
    w.u64(GETATTR_BASIC)
      .qid(qid)
      .u32(type | (attr.mode & 0o7777));
    // The guest sees its own root own every file: the share is the guest's, whoever owns it on the host.
    w.u32(0).u32(0).u64(BigInt(attr.nlink)).u64(0n).u64(BigInt(attr.size)).u64(BigInt(BLOCK_BYTES));
    w.u64(BigInt(Math.ceil(attr.size / 512)));
    for (const t of [atime, mtime, ctime]) w.u64(t / 1_000_000_000n).u64(t % 1_000_000_000n);
    w.u64(0n).u64(0n).u64(0n).u64(0n); // btime, gen, data_version: not in the basic set
  }

  async #setattr(r: MessageReader): Promise<void> {
    const fid = this.#fid(r.u32());
    const valid = r.u32();
    const mode = r.u32();
    r.u32(); // uid
    r.u32(); // gid
    const size = r.u64();
    const atime = r.u64() * 1_000_000_000n + r.u64();
    const mtime = r.u64() * 1_000_000_000n + r.u64();
    this.#writable();
    const now = BigInt(Date.now()) * 1_000_000n;
    if (valid & ATTR_SIZE && size > BigInt(Number.MAX_SAFE_INTEGER)) throw new FsError(E.EFBIG);
    // Owners are not kept (docs/shared-folders.md): chown succeeds and changes nothing, so that
    // `cp -p` and tar work as root would expect.
    await this.#tree.setattr(fid.path, {
      ...(valid & ATTR_MODE ? { mode: mode & 0o7777 } : {}),
      ...(valid & ATTR_SIZE ? { size: Number(size) } : {}),
      ...(valid & ATTR_ATIME ? { atimeNs: valid & ATTR_ATIME_SET ? atime : now } : {}),
      ...(valid & ATTR_MTIME ? { mtimeNs: valid & ATTR_MTIME_SET ? mtime : now } : {}),
    });
  }

  async #lopen(r: MessageReader, w: MessageWriter): Promise<void> {
    const fid = this.#fid(r.u32());
    const flags = r.u32();
    if (fid.openFlags !== null || fid.xattr) throw new FsError(E.EINVAL, 'fid already open');
    const { qid, attr } = await this.#qid(fid.path);
    const writes = (flags & O_ACCMODE) !== O_RDONLY || (flags & (O_TRUNC | O_APPEND)) !== 0;
    if (attr.kind === 'directory' && (flags & O_ACCMODE) !== O_RDONLY) throw new FsError(E.EISDIR);
    if (writes && attr.kind !== 'directory') this.#writable();
    if (attr.kind === 'symlink') throw new FsError(E.ELOOP);
    if (attr.kind === 'file' && flags & O_TRUNC && (flags & O_ACCMODE) !== O_RDONLY)
      await this.#tree.setattr(fid.path, { size: 0 });
    fid.openFlags = flags;
    if (attr.kind === 'file') this.#hold(fid);
    delete fid.listing;
    w.qid(qid).u32(0);
  }

  async #lcreate(r: MessageReader, w: MessageWriter): Promise<void> {
    const dir = this.#directory(r.u32());
    const name = createName(r.string());
    const flags = r.u32();
    const mode = r.u32();
    r.u32(); // gid
    if (dir.openFlags !== null) throw new FsError(E.EINVAL, 'fid already open');
    this.#writable();
    const path = [...dir.path, name];
    try {
      await this.#tree.create(path, mode & 0o7777);
    } catch (error) {
      // Without O_EXCL, open(2) with O_CREAT opens a file that is already there.
      if (!(error instanceof FsError && error.errno === E.EEXIST) || flags & O_EXCL) throw error;
      const existing = await this.#tree.getattr(path);
      if (existing.kind === 'directory') throw new FsError(E.EISDIR);
      if (existing.kind === 'symlink') throw new FsError(E.ELOOP);
      if (flags & O_TRUNC) await this.#tree.setattr(path, { size: 0 });
    }
    const { qid } = await this.#qid(path);
    dir.path = path;
    dir.kind = 'file';
    dir.openFlags = flags;
    this.#hold(dir);
    delete dir.listing;
    w.qid(qid).u32(0);
  }

  async #read(r: MessageReader, w: MessageWriter, limit: number): Promise<void> {
    const fid = this.#fid(r.u32());
    const offset = r.u64();
    const count = Math.min(r.u32(), limit - RREAD_HEADER_BYTES);
    if (fid.xattr) {
      w.u32(0);
      return;
    }
    if (fid.openFlags === null || (fid.openFlags & O_ACCMODE) === O_WRONLY) throw new FsError(E.EBADF);
    if (fid.kind === 'directory') throw new FsError(E.EISDIR);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER) || count <= 0) {
      w.u32(0);
      return;
    }
    const data = await this.#tree.read(fid.path, Number(offset), count);
    w.u32(data.length).data(data.subarray(0, count));
  }

  async #write(r: MessageReader, w: MessageWriter): Promise<void> {
    const fid = this.#fid(r.u32());
    let offset = r.u64();
    const count = r.u32();
    const data = r.data(count);
    if (fid.openFlags === null || (fid.openFlags & O_ACCMODE) === O_RDONLY || fid.kind !== 'file')
      throw new FsError(E.EBADF);
    this.#writable();
    if (fid.openFlags & O_APPEND) offset = BigInt((await this.#tree.getattr(fid.path)).size);
    if (offset + BigInt(count) > BigInt(Number.MAX_SAFE_INTEGER)) throw new FsError(E.EFBIG);
    await this.#tree.write(fid.path, Number(offset), data);
    w.u32(count);
  }

  async #readdir(r: MessageReader, w: MessageWriter, limit: number): Promise<void> {
    const fid = this.#directory(r.u32());
    const offset = r.u64();
    const count = Math.min(r.u32(), limit - RREAD_HEADER_BYTES);
    if (fid.openFlags === null) throw new FsError(E.EBADF);
    if (offset === 0n || !fid.listing) {
      const self = await this.#tree.getattr(fid.path);
      const parent = fid.path.length === 0 ? self : await this.#tree.getattr(fid.path.slice(0, -1));
      const entries = await this.#tree.readdir(fid.path);
      fid.listing = [
        { name: '.', kind: 'directory', id: self.id },
        { name: '..', kind: 'directory', id: parent.id },
        ...entries,
      ];
    }
    const countAt = w.length;
    w.u32(0);
    let used = 0;
    // An entry's offset is where the next read starts: its index + 1 in the listing.
    for (
      let i = offset > BigInt(fid.listing.length) ? fid.listing.length : Number(offset);
      i < fid.listing.length;
      i++
    ) {
      const entry = fid.listing[i]!;
      const bytes = QID_BYTES + 8 + 1 + encodedStringBytes(entry.name);
      if (used + bytes > count) break;
      const type = entry.kind === 'directory' ? QTDIR : entry.kind === 'symlink' ? QTSYMLINK : QTFILE;
      w.qid({ type, version: 0, path: entry.id }).u64(BigInt(i + 1));
      w.u8(entry.kind === 'directory' ? DT_DIR : entry.kind === 'symlink' ? DT_LNK : DT_REG).string(entry.name);
      used += bytes;
    }
    w.patchU32(countAt, used);
  }

  async #mkdir(r: MessageReader, w: MessageWriter): Promise<void> {
    const dir = this.#directory(r.u32());
    const name = createName(r.string());
    const mode = r.u32();
    r.u32(); // gid
    this.#writable();
    const path = [...dir.path, name];
    await this.#tree.mkdir(path, mode & 0o7777);
    w.qid((await this.#qid(path)).qid);
  }

  async #symlink(r: MessageReader, w: MessageWriter): Promise<void> {
    const dir = this.#directory(r.u32());
    const name = createName(r.string());
    const target = r.string();
    r.u32(); // gid
    if (target.length === 0 || target.includes('\0')) throw new FsError(E.ENOENT);
    this.#writable();
    const path = [...dir.path, name];
    await this.#tree.symlink(path, target);
    w.qid((await this.#qid(path)).qid);
  }

  async #readlink(r: MessageReader, w: MessageWriter): Promise<void> {
    const fid = this.#fid(r.u32());
    w.string(await this.#tree.readlink(fid.path));
  }

  async #link(r: MessageReader): Promise<void> {
    const dir = this.#directory(r.u32());
    const fid = this.#fid(r.u32());
    const name = createName(r.string());
    this.#writable();
    if (!this.#tree.link) throw new FsError(E.EOPNOTSUPP, 'this share has no hard links');
    await this.#tree.link(fid.path, [...dir.path, name]);
  }

  async #rename(r: MessageReader): Promise<void> {
    const fid = this.#fid(r.u32());
    const dir = this.#directory(r.u32());
    const name = renameName(r.string());
    this.#writable();
    if (fid.path.length === 0) throw new FsError(E.EBUSY);
    await this.#move(fid.path, [...dir.path, name]);
  }

  async #renameat(r: MessageReader): Promise<void> {
    const from = this.#directory(r.u32());
    const oldName = renameName(r.string());
    const to = this.#directory(r.u32());
    const newName = renameName(r.string());
    this.#writable();
    await this.#move([...from.path, oldName], [...to.path, newName]);
  }

  /** Renames in the tree, then moves every fid at or under the old path to the new one. */
  async #move(from: readonly string[], to: readonly string[]): Promise<void> {
    await this.#tree.rename(from, to);
    for (const fid of this.#fids.values()) {
      if (fid.path.length >= from.length && from.every((name, i) => fid.path[i] === name))
        fid.path = [...to, ...fid.path.slice(from.length)];
    }
  }

  async #unlinkat(r: MessageReader): Promise<void> {
    const dir = this.#directory(r.u32());
    const name = r.string();
    const flags = r.u32();
    // unlinkat(2) with "." is EINVAL and with ".." ENOTEMPTY, as QEMU answers.
    if (name === '.') throw new FsError(E.EINVAL);
    if (name === '..') throw new FsError(E.ENOTEMPTY);
    checkName(name);
    this.#writable();
    await this.#tree.remove([...dir.path, name], (flags & AT_REMOVEDIR) !== 0);
  }

  async #remove(r: MessageReader): Promise<void> {
    const number = r.u32();
    const fid = this.#fid(number);
    // remove(5): the fid is clunked "even if the remove fails".
    this.#clunkFid(number, fid);
    this.#writable();
    if (fid.path.length === 0) throw new FsError(E.EBUSY);
    await this.#tree.remove(fid.path, fid.kind === 'directory');
  }

  async #statfs(r: MessageReader, w: MessageWriter): Promise<void> {
    this.#fid(r.u32());
    const s = await this.#tree.statfs();
    w.u32(V9FS_MAGIC).u32(s.blockSize).u64(s.blocks).u64(s.blocksFree).u64(s.blocksFree);
    w.u64(s.files).u64(s.filesFree).u64(0n).u32(NAME_MAX);
  }

  async #fsync(r: MessageReader): Promise<void> {
    this.#fid(r.u32());
    // Backends write through: there is nothing held back to sync.
  }

  async #clunk(r: MessageReader): Promise<void> {
    const number = r.u32();
    this.#clunkFid(number, this.#fid(number));
  }

  async #flush(r: MessageReader): Promise<void> {
    const oldTag = r.u16();
    // flush(5): the server answers Rflush only after any reply to the flushed request.
    await this.#inFlight.get(oldTag);
  }

  async #xattrwalk(r: MessageReader, w: MessageWriter): Promise<void> {
    const fid = this.#fid(r.u32());
    const newFid = r.u32();
    const name = r.string();
    await this.#tree.getattr(fid.path);
    // No extended attributes: the list is empty, and any one attribute is absent (getxattr's ENODATA).
    if (name !== '') throw new FsError(E.ENODATA);
    this.#newFid(newFid, { path: [...fid.path], kind: fid.kind, openFlags: null, xattr: true });
    w.u64(0n);
  }

  async #lock(r: MessageReader, w: MessageWriter): Promise<void> {
    this.#fid(r.u32());
    r.u8(); // type
    r.u32(); // flags
    r.u64(); // start
    r.u64(); // length
    r.u32(); // proc_id
    r.string(); // client_id
    // Granted, as QEMU's local backend does: the guest's kernel arbitrates between its own processes.
    w.u8(LOCK_SUCCESS);
  }

  async #getlock(r: MessageReader, w: MessageWriter): Promise<void> {
    this.#fid(r.u32());
    r.u8();
    const start = r.u64();
    const length = r.u64();
    const procId = r.u32();
    const clientId = r.string();
    w.u8(LOCK_TYPE_UNLCK).u64(start).u64(length).u32(procId).string(clientId);
  }
}

function qidOf(attr: FileAttr): Qid {
  const type = attr.kind === 'directory' ? QTDIR : attr.kind === 'symlink' ? QTSYMLINK : QTFILE;
  return { type, version: 0, path: attr.id };
}

function lerror(tag: number, errno: number): Uint8Array {
  return new MessageWriter(P9.Rlerror, tag).u32(errno).finish();
}

/** A name as a backend may receive it: not empty, no '/' or NUL (ENOENT, as QEMU), at most NAME_MAX. */
function checkName(name: string): string {
  if (name === '' || name.includes('/') || name.includes('\0')) throw new FsError(E.ENOENT, 'illegal name');
  if (new TextEncoder().encode(name).length > NAME_MAX) throw new FsError(E.ENAMETOOLONG);
  if (name === '.' || name === '..') throw new FsError(E.EINVAL, `'${name}' as a name`);
  return name;
}

/** A walk may also name '.' and '..' (the server resolves them; '..' at the root stays there). */
function walkName(name: string): string {
  return name === '.' || name === '..' ? name : checkName(name);
}

/** Creating '.' or '..' is EEXIST (they always exist), as mkdir(2) says. */
function createName(name: string): string {
  if (name === '.' || name === '..') throw new FsError(E.EEXIST);
  return checkName(name);
}

/** Renaming from or onto '.' or '..': EISDIR, as QEMU answers. */
function renameName(name: string): string {
  if (name === '.' || name === '..') throw new FsError(E.EISDIR);
  return checkName(name);
}
