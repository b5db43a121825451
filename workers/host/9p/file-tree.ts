/**
 * The file-tree backend of a shared folder (DESIGN.md §7, "Shared folders"): what the 9p server asks of
 * the storage behind a share — the browser's own storage, a real folder, a host directory in Node, or
 * memory. Every operation is async so a backend over the Origin Private File System can implement it.
 *
 * A path is an array of names from the share's root ([] is the root). The server hands a backend only
 * names it has checked (no '/', no NUL, never '.' or '..'), and resolves '..' itself, so a path never
 * leaves the root by its names; a backend over real storage must in addition never follow a symlink
 * (neither inside a path nor at its end): symlinks are the guest's to resolve, with readlink.
 *
 * Errors are `FsError`s carrying a Linux errno, which the server sends to the guest as it is.
 */

export type FileKind = 'file' | 'directory' | 'symlink';

export interface FileAttr {
  readonly kind: FileKind;
  /** The permission bits (07777); the file type comes from `kind`. */
  readonly mode: number;
  readonly size: number;
  readonly nlink: number;
  /** A number unique to this file within the tree while it exists (the qid path). */
  readonly id: bigint;
  /** Times in nanoseconds since the epoch. */
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export interface DirEntry {
  readonly name: string;
  readonly kind: FileKind;
  readonly id: bigint;
}

export interface SetAttr {
  readonly mode?: number;
  readonly size?: number;
  /** Nanoseconds since the epoch. */
  readonly atimeNs?: bigint;
  readonly mtimeNs?: bigint;
}

export interface FsStats {
  readonly blockSize: number;
  readonly blocks: bigint;
  readonly blocksFree: bigint;
  readonly files: bigint;
  readonly filesFree: bigint;
}

export interface FileTree {
  /** A read-only tree: the server refuses every change with EROFS before asking the backend. */
  readonly readOnly: boolean;
  /** The attributes of the file at `path`, not following a symlink there. */
  getattr(path: readonly string[]): Promise<FileAttr>;
  setattr(path: readonly string[], changes: SetAttr): Promise<void>;
  /** The entries of a directory, without '.' and '..'. */
  readdir(path: readonly string[]): Promise<DirEntry[]>;
  /** Up to `length` bytes at `offset` (fewer at the end of the file). */
  read(path: readonly string[], offset: number, length: number): Promise<Uint8Array>;
  /** Writes all of `data` at `offset`, growing the file as needed. */
  write(path: readonly string[], offset: number, data: Uint8Array): Promise<void>;
  /** Creates an empty regular file; EEXIST if `path` exists. */
  create(path: readonly string[], mode: number): Promise<void>;
  mkdir(path: readonly string[], mode: number): Promise<void>;
  symlink(path: readonly string[], target: string): Promise<void>;
  readlink(path: readonly string[]): Promise<string>;
  /** A hard link; a backend without them leaves it out (the server answers EOPNOTSUPP). */
  link?(existing: readonly string[], path: readonly string[]): Promise<void>;
  /** rename(2): replaces a file at `to`, or an empty directory with a directory. */
  rename(from: readonly string[], to: readonly string[]): Promise<void>;
  /** unlink(2), or rmdir(2) when `directory`. */
  remove(path: readonly string[], directory: boolean): Promise<void>;
  statfs(): Promise<FsStats>;
  /**
   * A fid opened the regular file at `path` (Tlopen, Tlcreate, or a restored open fid); each hold is
   * matched by one `release` (Tclunk, Tremove, Tversion, a reset). Between the two a backend may keep
   * the file open for `read` and `write` at `path`; the server's fids follow `rename` as the backend's
   * paths do, so holds move with it. Optional: a backend without handles leaves both out.
   */
  hold?(path: readonly string[]): void;
  release?(path: readonly string[]): void;
}

/** A failure with the Linux errno the guest gets (protocol.ts `E`). */
export class FsError extends Error {
  constructor(
    readonly errno: number,
    message = `errno ${errno}`,
  ) {
    super(message);
  }
}
