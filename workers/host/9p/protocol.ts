/**
 * The 9P2000.L wire format: message numbers, the constants Linux's 9p client sends (include/net/9p/9p.h,
 * the 9P2000.L protocol description in diod's and QEMU's docs), and a bounded reader and writer.
 * Every integer is little-endian; a string is a 2-byte length and that many UTF-8 bytes; a qid is
 * type[1] version[4] path[8]. A message is size[4] type[1] tag[2] and its body; `size` counts itself.
 *
 * The reader never allocates more than what the message holds: every length is checked against the
 * bytes left before it is used, and a short message throws `ProtocolError`, which the server answers
 * with Rlerror(EPROTO).
 */

// Message types: T is even, its R is T + 1.
export const P9 = {
  Tlerror: 6,
  Rlerror: 7,
  Tstatfs: 8,
  Tlopen: 12,
  Tlcreate: 14,
  Tsymlink: 16,
  Tmknod: 18,
  Trename: 20,
  Treadlink: 22,
  Tgetattr: 24,
  Tsetattr: 26,
  Txattrwalk: 30,
  Txattrcreate: 32,
  Treaddir: 40,
  Tfsync: 50,
  Tlock: 52,
  Tgetlock: 54,
  Tlink: 70,
  Tmkdir: 72,
  Trenameat: 74,
  Tunlinkat: 76,
  Tversion: 100,
  Tauth: 102,
  Tattach: 104,
  Tflush: 108,
  Twalk: 110,
  Tread: 116,
  Twrite: 118,
  Tclunk: 120,
  Tremove: 122,
} as const;

export const HEADER_BYTES = 7;
/** Tread/Rread and Twrite framing: header, count[4] (and fid[4] offset[8] for Twrite). */
export const RREAD_HEADER_BYTES = HEADER_BYTES + 4;
export const TWRITE_HEADER_BYTES = HEADER_BYTES + 4 + 8 + 4;
export const QID_BYTES = 13;
/** The tag of Tversion ("NOTAG"). */
export const NOTAG = 0xffff;
export const NOFID = 0xffff_ffff;
/** Twalk carries at most 16 names (the 9P spec's MAXWELEM). */
export const MAXWELEM = 16;
export const VERSION_9P2000_L = '9P2000.L';

// Qid types.
export const QTDIR = 0x80;
export const QTSYMLINK = 0x02;
export const QTFILE = 0x00;

// Linux errno values (asm-generic/errno-base.h, errno.h): what Rlerror carries.
export const E = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;

// Tlopen/Tlcreate flags: Linux's generic O_* values, which 9P2000.L carries as they are (P9_DOTL_*).
export const O_ACCMODE = 3;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_DIRECTORY = 0o200000;

// Tsetattr valid bits (P9_ATTR_*).
export const ATTR_MODE = 0x1;
export const ATTR_UID = 0x2;
export const ATTR_GID = 0x4;
export const ATTR_SIZE = 0x8;
export const ATTR_ATIME = 0x10;
export const ATTR_MTIME = 0x20;
export const ATTR_CTIME = 0x40;
export const ATTR_ATIME_SET = 0x80;
export const ATTR_MTIME_SET = 0x100;

/** Tgetattr: the fields through gid, nlink, rdev, size, blocks and the three times (P9_GETATTR_BASIC). */
export const GETATTR_BASIC = 0x7ffn;

// File type bits of st_mode (Linux stat.h).
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

// Directory entry types of Rreaddir (dirent.h DT_*).
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;

/** Tunlinkat: remove a directory (Linux AT_REMOVEDIR). */
export const AT_REMOVEDIR = 0x200;

// Tlock: status P9_LOCK_SUCCESS; Tgetlock: F_UNLCK, "no conflicting lock".
export const LOCK_SUCCESS = 0;
export const LOCK_TYPE_UNLCK = 2;

/** Rstatfs type: V9FS_MAGIC, as QEMU's servers report for any backend. */
export const V9FS_MAGIC = 0x01021997;

export interface Qid {
  readonly type: number;
  readonly version: number;
  readonly path: bigint;
}

/** A message that is malformed (too short, a count past its end): the server answers EPROTO. */
export class ProtocolError extends Error {}

export class MessageReader {
  #at: number;
  readonly #view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    at = 0,
  ) {
    this.#at = at;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  #take(n: number): number {
    if (n > this.remaining) throw new ProtocolError(`message ends ${n - this.remaining} bytes early`);
    const at = this.#at;
    this.#at += n;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }

  /** A string: checked against the bytes left before it is decoded; invalid UTF-8 is a protocol error. */
  string(): string {
    const length = this.u16();
    const at = this.#take(length);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(at, at + length));
    } catch {
      throw new ProtocolError('a string that is not UTF-8');
    }
  }

  /** `length` raw bytes, a view (no copy). */
  data(length: number): Uint8Array {
    const at = this.#take(length);
    return this.bytes.subarray(at, at + length);
  }
}

/** Builds one R-message; `finish` writes its size. Grows as needed (the server bounds what it adds). */
export class MessageWriter {
  #bytes = new Uint8Array(64);
  #view = new DataView(this.#bytes.buffer);
  #at = HEADER_BYTES;

  constructor(type: number, tag: number) {
    this.#view.setUint8(4, type);
    this.#view.setUint16(5, tag, true);
  }

  get length(): number {
    return this.#at;
  }

  #room(n: number): number {
    if (this.#at + n > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#at + n));
      grown.set(this.#bytes);
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    const at = this.#at;
    this.#at += n;
    return at;
  }

  // Each writer reserves room before it reads #view or #bytes: reserving may replace them.
  u8(value: number): this {
    const at = this.#room(1);
    this.#view.setUint8(at, value);
    return this;
  }

  u16(value: number): this {
    const at = this.#room(2);
    this.#view.setUint16(at, value, true);
    return this;
  }

  u32(value: number): this {
    const at = this.#room(4);
    this.#view.setUint32(at, value >>> 0, true);
    return this;
  }

  u64(value: bigint): this {
    const at = this.#room(8);
    this.#view.setBigUint64(at, BigInt.asUintN(64, value), true);
    return this;
  }

  string(value: string): this {
    const bytes = new TextEncoder().encode(value);
    if (bytes.length > 0xffff) throw new RangeError('9p string longer than 65535 bytes');
    this.u16(bytes.length);
    const at = this.#room(bytes.length);
    this.#bytes.set(bytes, at);
    return this;
  }

  qid(qid: Qid): this {
    return this.u8(qid.type).u32(qid.version).u64(qid.path);
  }

  data(bytes: Uint8Array): this {
    const at = this.#room(bytes.length);
    this.#bytes.set(bytes, at);
    return this;
  }

  /** Overwrites a u32 written before (Rreaddir's count once its entries are known). */
  patchU32(at: number, value: number): void {
    this.#view.setUint32(at, value >>> 0, true);
  }

  /** The message, a view of the writer's own buffer (no copy: a large Rread is copied once, into the guest). */
  finish(): Uint8Array {
    this.#view.setUint32(0, this.#at, true);
    return this.#bytes.subarray(0, this.#at);
  }
}

/** The encoded size of a string of `name`, for fitting directory entries into a count. */
export function encodedStringBytes(name: string): number {
  return 2 + new TextEncoder().encode(name).length;
}
