/**
 * The Files panel's model: a VM's shared folder as the page sees it, over the same `FileTree` the 9p
 * server serves to the guest (workers/host/9p/file-tree.ts). Listing (folders first), copying files and
 * folders in (streamed in chunks, under a temporary name until complete, name clashes asked), copying out
 * (a file as a Blob, a folder as a zip streamed through fflate), delete, rename and new folder.
 *
 * A shared folder is the host's: nothing here goes through the VM, and a snapshot does not roll it back.
 */
import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';
import { FsError, type FileKind, type FileTree } from '../../workers/host/9p/file-tree.ts';
import { ObservableState } from '../controller/observable-state.ts';
import { DirectoryHandleTree } from '../../workers/host/9p/handle-tree.ts';
import { hasVmShares, hostFolderAccess, loadHostFolder, openVmShare } from '../storage/vm-share.ts';

/** How much of a file one read or write moves: big enough for few round trips, small next to RAM. */
export const CHUNK_BYTES = 1 << 20;
/** The zip is handed to a Blob in pieces of about this size, so its bytes are held in memory once. */
const BLOB_FLUSH_BYTES = 8 << 20;
/** fflate writes no ZIP64 records: every size and offset in the archive must fit 32 bits. */
export const ZIP_LIMIT_BYTES = 0xffff_ffff;
/**
 * The Linux errno values (asm-generic/errno-base.h, errno.h) an FsError carries that the panel tells
 * apart; workers/host/9p/protocol.ts has them all, but the page may not import it (files.test.ts checks
 * these against it through describeError).
 */
const E = {
  EPERM: 1,
  ENOENT: 2,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  ENOSPC: 28,
  EROFS: 30,
  ENOTEMPTY: 39,
} as const;
/** The longest name Linux accepts (NAME_MAX), counted in UTF-8 bytes. */
const NAME_MAX = 255;

export interface FolderEntry {
  readonly name: string;
  readonly kind: FileKind;
  readonly size: number;
  /** Milliseconds since the epoch. */
  readonly modifiedMs: number;
}

/** A failure told to the user as it is: one plain sentence. */
export class FilesError extends Error {}

/** Folders first, then by name as people sort them ("file2" before "file10"), ties by code points. */
export function sortEntries(entries: readonly FolderEntry[]): FolderEntry[] {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  return [...entries].sort(
    (a, b) =>
      Number(b.kind === 'directory') - Number(a.kind === 'directory') ||
      collator.compare(a.name, b.name) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** How the name of an item being copied in starts; the listing leaves such items out. */
const TEMPORARY_PREFIX = '.tabvm-copy-';

/**
 * The folder's entries with their size and time; one the guest removes meanwhile is left out, and so
 * are items still being copied in.
 */
export async function listFolder(tree: FileTree, dir: readonly string[]): Promise<FolderEntry[]> {
  const entries: FolderEntry[] = [];
  for (const { name } of await tree.readdir(dir)) {
    if (name.startsWith(TEMPORARY_PREFIX)) continue;
    try {
      const attr = await tree.getattr([...dir, name]);
      entries.push({
        name,
        kind: attr.kind,
        size: attr.kind === 'file' ? attr.size : 0,
        modifiedMs: Number(attr.mtimeNs / 1_000_000n),
      });
    } catch (error) {
      if (!(error instanceof FsError && error.errno === E.ENOENT)) throw error;
    }
  }
  return sortEntries(entries);
}

/** Why `name` cannot name a file in a share (the 9p server refuses the same names), or null. */
export function nameProblem(name: string): string | null {
  if (name.trim() === '') return 'A name cannot be empty.';
  if (name === '.' || name === '..') return `“${name}” cannot be the name of a file or folder.`;
  if (name.includes('/')) return 'A name cannot contain “/”.';
  if (name.includes('\0')) return 'A name cannot contain a NUL character.';
  if (new TextEncoder().encode(name).length > NAME_MAX) return `A name can be at most ${NAME_MAX} bytes long.`;
  return null;
}

/** "report (1).txt", "report (2).txt", … (a folder or a dot file keeps its whole name before the number). */
export function keepBothName(name: string, kind: FileKind, taken: (candidate: string) => boolean): string {
  const dot = kind === 'directory' ? -1 : name.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 1; ; n++) {
    const candidate = `${stem} (${n})${extension}`;
    if (!taken(candidate)) return candidate;
  }
}

/** Something to copy into the share: a file's bytes, or a folder with what it holds. */
export type CopySource =
  | { readonly kind: 'file'; readonly name: string; readonly blob: Blob }
  | { readonly kind: 'directory'; readonly name: string; readonly children: readonly CopySource[] };

/**
 * The files an `<input type=file>` chose, as sources: with `webkitdirectory` each has a relative path
 * ("photos/2024/a.jpg"), which becomes folders; without, each is a file at the top.
 */
export function sourcesFromFiles(files: Iterable<File>): CopySource[] {
  interface Folder {
    readonly files: CopySource[];
    readonly folders: Map<string, Folder>;
  }
  const root: Folder = { files: [], folders: new Map() };
  for (const file of files) {
    const parts = (file.webkitRelativePath || file.name).split('/').filter((part) => part !== '');
    let folder = root;
    for (const part of parts.slice(0, -1)) {
      let next = folder.folders.get(part);
      if (!next) folder.folders.set(part, (next = { files: [], folders: new Map() }));
      folder = next;
    }
    folder.files.push({ kind: 'file', name: parts.at(-1) ?? file.name, blob: file });
  }
  const toSources = (folder: Folder): CopySource[] => [
    ...[...folder.folders].map(([name, sub]): CopySource => ({ kind: 'directory', name, children: toSources(sub) })),
    ...folder.files,
  ];
  return toSources(root);
}

/**
 * What was dropped, as sources. The items must be taken while the drop event runs (the DataTransfer is
 * emptied after it), so this reads them at once and walks folders afterwards: a folder through its
 * `webkitGetAsEntry()` entry (the one way every browser offers to a dropped folder's contents), a
 * file as it is.
 */
export function sourcesFromDataTransfer(data: DataTransfer): Promise<CopySource[]> {
  const dropped = [...data.items]
    .filter((item) => item.kind === 'file')
    .map((item) => ({ entry: item.webkitGetAsEntry(), file: item.getAsFile() }));
  return (async () => {
    const sources: CopySource[] = [];
    for (const { entry, file } of dropped) {
      if (entry?.isDirectory) sources.push(await sourceFromEntry(entry));
      else if (file) sources.push({ kind: 'file', name: file.name, blob: file });
    }
    return sources;
  })();
}

async function sourceFromEntry(entry: FileSystemEntry): Promise<CopySource> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return { kind: 'file', name: entry.name, blob: file };
  }
  // readEntries hands out a folder's entries in batches until it returns an empty one.
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: CopySource[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) children.push(await sourceFromEntry(child));
  }
  return { kind: 'directory', name: entry.name, children };
}

/** Bytes and files in `sources`, folders included. */
export function measureSources(sources: readonly CopySource[]): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const visit = (source: CopySource) => {
    if (source.kind === 'file') {
      bytes += source.blob.size;
      files++;
    } else source.children.forEach(visit);
  };
  sources.forEach(visit);
  return { bytes, files };
}

export type ClashChoice = 'replace' | 'keep-both' | 'skip';

export interface Clash {
  readonly name: string;
  readonly kind: FileKind;
  readonly existing: FileKind;
}

export interface CopyProgress {
  readonly doneBytes: number;
  readonly totalBytes: number;
  readonly doneFiles: number;
  readonly totalFiles: number;
  /** The file being copied, as a path in the share. */
  readonly current: string;
}

/** Where one new file's bytes go from start to end: a browser's FileSystemWritableFileStream has this shape. */
export interface FileSink {
  write(chunk: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

export interface CopyOptions {
  /**
   * Opens a file `create` just made for writing from its start, where the storage has a faster way than
   * `FileTree.write`: the page's tree over the OPFS opens a writable per write, which copies the file
   * each time, so chunked writes of a large file would cost the square of its size.
   */
  readonly openSink?: (path: readonly string[]) => Promise<FileSink>;
  /** What to do with a top-level name that is already in the folder. */
  readonly ask: (clash: Clash) => Promise<ClashChoice>;
  readonly onProgress?: (progress: CopyProgress) => void;
  /** Bytes the browser still lets this site store; a larger copy is refused before it starts. */
  readonly freeBytes?: number;
  readonly chunkBytes?: number;
  readonly signal?: AbortSignal;
}

export interface CopyResult {
  /** The names the copied items got at the top (a clash kept both: the new name). */
  readonly copied: readonly string[];
  readonly skipped: readonly string[];
  readonly files: number;
  readonly bytes: number;
}

/**
 * Copies `sources` into the folder `dir`. Each top-level item is written under a temporary name and
 * renamed into place once complete, so neither the guest nor a reload sees half a file under its name,
 * and a failure (a full storage, a cancel) removes only the unfinished item: what was copied before stays,
 * and a file being replaced is kept until its replacement is complete. Files are read and written a chunk
 * at a time, so a file is never held in memory whole.
 */
export async function copyIn(
  tree: FileTree,
  dir: readonly string[],
  sources: readonly CopySource[],
  options: CopyOptions,
): Promise<CopyResult> {
  if (tree.readOnly) throw new FilesError('This shared folder is read-only.');
  const total = measureSources(sources);
  if (options.freeBytes !== undefined && total.bytes > options.freeBytes) {
    throw new FilesError(
      `Copying needs ${formatBytes(total.bytes)}, but the browser lets this site store only ${formatBytes(
        Math.max(0, options.freeBytes),
      )} more; nothing was copied.`,
    );
  }
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  let doneBytes = 0;
  let doneFiles = 0;
  const report = (current: string) =>
    options.onProgress?.({
      doneBytes,
      totalBytes: total.bytes,
      doneFiles,
      totalFiles: total.files,
      current,
    });
  const checkCancel = () => {
    if (options.signal?.aborted) throw new FilesError('The copy was cancelled.');
  };

  const writeFile = async (path: readonly string[], shown: string, blob: Blob) => {
    await tree.create(path, 0o644);
    const sink: FileSink = options.openSink
      ? await options.openSink(path)
      : {
          write: async (bytes) => {
            await tree.write(path, written, bytes);
          },
          close: async () => undefined,
          abort: async () => undefined,
        };
    let written = 0;
    report(shown);
    try {
      for (; written < blob.size;) {
        checkCancel();
        const bytes = new Uint8Array(await blob.slice(written, written + chunkBytes).arrayBuffer());
        if (bytes.length === 0) throw new FilesError(`“${shown}” changed on the disk while it was copied.`);
        await sink.write(bytes);
        written += bytes.length;
        doneBytes += bytes.length;
        report(shown);
      }
      await sink.close();
    } catch (error) {
      await sink.abort().catch(() => undefined);
      throw error;
    }
    doneFiles++;
    report(shown);
  };
  const writeSource = async (path: readonly string[], shown: string, source: CopySource): Promise<void> => {
    checkCancel();
    if (source.kind === 'file') return writeFile(path, shown, source.blob);
    await tree.mkdir(path, 0o755);
    for (const child of source.children) {
      if (nameProblem(child.name) !== null)
        throw new FilesError(`“${child.name}” cannot be copied: ${nameProblem(child.name)}`);
      await writeSource([...path, child.name], `${shown}/${child.name}`, child);
    }
  };

  const copied: string[] = [];
  const skipped: string[] = [];
  for (const source of sources) {
    checkCancel();
    const problem = nameProblem(source.name);
    if (problem !== null) throw new FilesError(`“${source.name}” cannot be copied: ${problem}`);
    const present = new Map((await tree.readdir(dir)).map((entry) => [entry.name, entry.kind]));
    let name = source.name;
    let replaces = false;
    const existing = present.get(name);
    if (existing !== undefined) {
      const choice = await options.ask({ name, kind: source.kind, existing });
      if (choice === 'skip') {
        skipped.push(name);
        const skippedSize = measureSources([source]);
        doneBytes += skippedSize.bytes;
        doneFiles += skippedSize.files;
        continue;
      }
      if (choice === 'keep-both') name = keepBothName(name, source.kind, (candidate) => present.has(candidate));
      else replaces = true;
    }
    const temporary = [...dir, temporaryName(present)];
    try {
      await writeSource(temporary, [...dir, name].join('/'), source);
      checkCancel();
      // rename(2) replaces a file with a file in one step; anything else must go first.
      if (replaces && !(existing === 'file' && source.kind === 'file')) await removeEntry(tree, [...dir, name]);
      await tree.rename(temporary, [...dir, name]);
    } catch (error) {
      await removeEntry(tree, temporary).catch(() => undefined);
      throw error;
    }
    copied.push(name);
  }
  return { copied, skipped, files: doneFiles, bytes: doneBytes };
}

/** A name for an item while it is copied: hidden in `ls`, and not one the folder has. */
function temporaryName(present: ReadonlyMap<string, FileKind>): string {
  for (;;) {
    const name = `${TEMPORARY_PREFIX}${crypto.randomUUID().slice(0, 8)}`;
    if (!present.has(name)) return name;
  }
}

/** Removes a file, a symlink, or a folder with everything in it. */
export async function removeEntry(tree: FileTree, path: readonly string[]): Promise<void> {
  const attr = await tree.getattr(path);
  if (attr.kind === 'directory') {
    for (const child of await tree.readdir(path)) await removeEntry(tree, [...path, child.name]);
  }
  await tree.remove(path, attr.kind === 'directory');
}

/** Renames `from` to `to` in one folder; never replaces what is already called `to`. */
export async function renameEntry(tree: FileTree, dir: readonly string[], from: string, to: string): Promise<void> {
  const problem = nameProblem(to);
  if (problem !== null) throw new FilesError(problem);
  if (from === to) return;
  if (await exists(tree, [...dir, to])) throw new FilesError(`Something called “${to}” is already in this folder.`);
  await tree.rename([...dir, from], [...dir, to]);
}

export async function makeFolder(tree: FileTree, dir: readonly string[], name: string): Promise<void> {
  const problem = nameProblem(name);
  if (problem !== null) throw new FilesError(problem);
  try {
    await tree.mkdir([...dir, name], 0o755);
  } catch (error) {
    if (error instanceof FsError && error.errno === E.EEXIST) {
      throw new FilesError(`Something called “${name}” is already in this folder.`);
    }
    throw error;
  }
}

async function exists(tree: FileTree, path: readonly string[]): Promise<boolean> {
  try {
    await tree.getattr(path);
    return true;
  } catch (error) {
    if (error instanceof FsError && error.errno === E.ENOENT) return false;
    throw error;
  }
}

/**
 * Parts that become one Blob: every few MiB the parts so far are folded into the Blob, which the
 * browser keeps (in memory or on disk) without a second copy of what it already holds.
 */
class BlobBuilder {
  #blob = new Blob([]);
  #parts: Uint8Array<ArrayBuffer>[] = [];
  #pending = 0;

  constructor(readonly type = 'application/octet-stream') {}

  push(part: Uint8Array): void {
    this.#parts.push(part as Uint8Array<ArrayBuffer>);
    this.#pending += part.length;
    if (this.#pending >= BLOB_FLUSH_BYTES) this.#flush();
  }

  #flush(): void {
    this.#blob = new Blob([this.#blob, ...this.#parts], { type: this.type });
    this.#parts = [];
    this.#pending = 0;
  }

  finish(): Blob {
    this.#flush();
    return this.#blob;
  }
}

/** A file's bytes as a Blob, read a chunk at a time up to its end. */
export async function readFileBlob(
  tree: FileTree,
  path: readonly string[],
  options: { chunkBytes?: number; onProgress?: (doneBytes: number) => void } = {},
): Promise<Blob> {
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  const blob = new BlobBuilder();
  tree.hold?.(path);
  try {
    for (let offset = 0; ;) {
      const bytes = await tree.read(path, offset, chunkBytes);
      if (bytes.length === 0) break;
      blob.push(bytes);
      offset += bytes.length;
      options.onProgress?.(offset);
    }
  } finally {
    tree.release?.(path);
  }
  return blob.finish();
}

export interface ZipResult {
  readonly blob: Blob;
  readonly files: number;
  /** Paths in the archive of what a zip cannot hold (symlinks). */
  readonly skipped: readonly string[];
}

/**
 * A folder as a zip (fflate's streaming `Zip`): each file is read a chunk at a time and deflated, and
 * the archive's bytes go into a Blob as they come out. Folders get their own entries, so empty ones
 * are kept; symlinks are left out and listed.
 */
export async function zipFolder(
  tree: FileTree,
  dir: readonly string[],
  options: { chunkBytes?: number; onProgress?: (doneBytes: number) => void } = {},
): Promise<ZipResult> {
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  const blob = new BlobBuilder('application/zip');
  let archiveBytes = 0;
  let failure: Error | null = null;
  const zip = new Zip((error, chunk) => {
    if (error) failure = error;
    else {
      archiveBytes += chunk.length;
      blob.push(chunk);
    }
  });
  const check = () => {
    if (failure) throw failure;
    if (archiveBytes > ZIP_LIMIT_BYTES) {
      throw new FilesError(
        `The folder is too large for a zip (more than ${formatBytes(ZIP_LIMIT_BYTES)}); download its files one by one.`,
      );
    }
  };
  let files = 0;
  let doneBytes = 0;
  const skipped: string[] = [];
  const visit = async (path: readonly string[], prefix: string) => {
    for (const entry of await listFolder(tree, path)) {
      const name = `${prefix}${entry.name}`;
      const mtime = new Date(Math.max(entry.modifiedMs, DOS_EPOCH_MS));
      if (entry.kind === 'symlink') {
        skipped.push(name);
      } else if (entry.kind === 'directory') {
        const folder = new ZipPassThrough(`${name}/`);
        folder.mtime = mtime;
        zip.add(folder);
        folder.push(new Uint8Array(0), true);
        await visit([...path, entry.name], `${name}/`);
      } else {
        const file = new ZipDeflate(name, { level: 1 });
        file.mtime = mtime;
        zip.add(file);
        const filePath = [...path, entry.name];
        tree.hold?.(filePath);
        try {
          for (let offset = 0; ;) {
            const bytes = await tree.read(filePath, offset, chunkBytes);
            if (bytes.length === 0) break;
            file.push(bytes);
            offset += bytes.length;
            doneBytes += bytes.length;
            options.onProgress?.(doneBytes);
            check();
          }
        } finally {
          tree.release?.(filePath);
        }
        file.push(new Uint8Array(0), true);
        files++;
      }
      check();
    }
  };
  try {
    await visit(dir, '');
    zip.end();
    check();
  } catch (error) {
    zip.terminate();
    throw error;
  }
  return { blob: blob.finish(), files, skipped };
}

/** Zip times are MS-DOS times, which start in 1980. */
const DOS_EPOCH_MS = Date.UTC(1980, 0, 1, 12);

/** A failure as one sentence for the panel. */
export function describeError(error: unknown): string {
  if (error instanceof FilesError) return error.message;
  if (error instanceof FsError) {
    switch (error.errno) {
      case E.ENOSPC:
        return 'The browser’s storage for this site is full; nothing stored before was lost.';
      case E.EROFS:
        return 'This shared folder is read-only.';
      case E.ENOENT:
        return 'It is not there any more (the guest may have moved or removed it).';
      case E.EEXIST:
        return 'Something with that name is already there.';
      case E.ENOTEMPTY:
        return 'The folder is not empty.';
      case E.EBUSY:
        return 'The guest has that file open for writing; try again once it has closed it.';
      case E.EACCES:
      case E.EPERM:
        return 'The browser did not allow it (permission denied).';
      default:
        return `The shared folder refused it (error ${error.errno}: ${error.message}).`;
    }
  }
  if (error instanceof DOMException && error.name === 'QuotaExceededError') {
    return 'The browser’s storage for this site is full; nothing stored before was lost.';
  }
  if (error instanceof DOMException && error.name === 'NotFoundError') {
    return 'It is not there any more (the guest may have moved or removed it).';
  }
  return error instanceof Error ? error.message : String(error);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Where the default images mount the share named `shared` in the guest (scripts/image/rootfs/init). */
export const GUEST_MOUNT = '/mnt/shared';

export interface FilesView {
  /** The folder shown, as names from the share's root. */
  readonly dir: readonly string[];
  /** Its entries; null until the first listing arrived. */
  readonly entries: readonly FolderEntry[] | null;
  /** The last failure, one sentence; stays until dismissed or the next action. */
  readonly error: string | null;
  /** What the last copy did. */
  readonly notice: string | null;
  readonly copy: CopyProgress | null;
  /** A name clash waiting for the user's answer. */
  readonly clash: Clash | null;
  /** A download being prepared: the name it is saved under and the bytes read so far. */
  readonly preparing: { readonly fileName: string; readonly doneBytes: number } | null;
}

/** A VM's shared folder as the session reaches it: its tree, and the storage's faster paths where it has them. */
export interface ShareAccess {
  readonly tree: FileTree;
  /** See CopyOptions.openSink. */
  readonly openSink?: (path: readonly string[]) => Promise<FileSink>;
  /** A file's bytes as the storage's own File (nothing read into memory for a download). */
  readonly openFile?: (path: readonly string[]) => Promise<File>;
  /** A folder on the user's disk: the site's storage quota does not bound what is copied in. */
  readonly outsideQuota?: boolean;
}

/** The browser's own estimate of what this site may still store, where it gives one. */
export async function storageFreeBytes(): Promise<number | undefined> {
  const estimate = await navigator.storage?.estimate?.();
  if (estimate?.quota === undefined || estimate.usage === undefined) return undefined;
  return estimate.quota - estimate.usage;
}

/**
 * One VM's shared folder in the page: the folder shown and its listing, the copy in progress with its
 * clash question, and the actions. The panel and the console's drop target share it, and it outlives
 * both (a copy goes on when another VM is selected). React reads it with useSyncExternalStore.
 */
export class FilesSession {
  readonly #state = new ObservableState<FilesView>({
    dir: [],
    entries: null,
    error: null,
    notice: null,
    copy: null,
    clash: null,
    preparing: null,
  });
  readonly #openShare: () => Promise<ShareAccess>;
  readonly #freeBytes: () => Promise<number | undefined>;
  /** Copies run one after the other, in the order they were asked for. */
  #copies: Promise<void> = Promise.resolve();
  #abort: AbortController | undefined;
  #answer: ((choice: ClashChoice) => void) | undefined;
  /** Refreshes are numbered, so a slow one never replaces what a later one showed. */
  #refreshesStarted = 0;
  #refreshShown = 0;
  #polling: Promise<void> | undefined;
  /** "Do this for every clash" for the rest of the current copy. */
  #answerForAll: ClashChoice | undefined;

  constructor(openShare: () => Promise<ShareAccess>, freeBytes: () => Promise<number | undefined> = storageFreeBytes) {
    this.#openShare = openShare;
    this.#freeBytes = freeBytes;
  }

  readonly subscribe = this.#state.subscribe;
  readonly getView = this.#state.get;

  get #view(): FilesView {
    return this.#state.get();
  }

  async #getTree(): Promise<FileTree> {
    return (await this.#openShare()).tree;
  }

  /**
   * Lists the folder shown again (the panel calls it while visible, so what the guest changes shows up).
   * A folder that is gone shows its nearest parent that is still there.
   */
  async refresh(): Promise<void> {
    const dir = this.#view.dir;
    const ticket = ++this.#refreshesStarted;
    try {
      const tree = await this.#getTree();
      let shown = dir;
      let entries: FolderEntry[] | undefined;
      while (entries === undefined) {
        try {
          entries = await listFolder(tree, shown);
        } catch (error) {
          const gone = error instanceof FsError && (error.errno === E.ENOENT || error.errno === E.ENOTDIR);
          if (!gone || shown.length === 0) throw error;
          shown = shown.slice(0, -1);
        }
      }
      // The user went elsewhere meanwhile, or a listing started later has been shown already.
      if (this.#view.dir !== dir || ticket < this.#refreshShown) return;
      this.#refreshShown = ticket;
      if (shown !== dir || !sameEntries(this.#view.entries, entries)) this.#state.update({ dir: shown, entries });
    } catch (error) {
      this.#fail(error);
    }
  }

  /** A refresh for the timer: none while the last one is still listing (a large folder, a busy machine). */
  poll(): Promise<void> {
    this.#polling ??= this.refresh().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /** Shows a subfolder of the folder shown. */
  open(name: string): Promise<void> {
    this.#state.update({ dir: [...this.#view.dir, name], entries: null, error: null });
    return this.refresh();
  }

  /** Shows the folder `depth` names below the root (0: the root), as the breadcrumb does. */
  goTo(depth: number): Promise<void> {
    this.#state.update({ dir: this.#view.dir.slice(0, depth), entries: null, error: null });
    return this.refresh();
  }

  dismiss(): void {
    this.#state.update({ error: null, notice: null });
  }

  #fail(error: unknown): void {
    const message = describeError(error);
    if (message !== this.#view.error) this.#state.update({ error: message });
  }

  /**
   * Copies into the folder shown when the copy was asked for; resolves when it is done or failed. The
   * sources may still be being gathered (a dropped folder is walked first).
   */
  copyIn(gathering: readonly CopySource[] | Promise<readonly CopySource[]>): Promise<void> {
    const dir = this.#view.dir;
    const run = async () => {
      let sources: readonly CopySource[];
      try {
        sources = await gathering;
      } catch (error) {
        return this.#fail(error);
      }
      if (sources.length === 0) return;
      const abort = new AbortController();
      this.#abort = abort;
      this.#answerForAll = undefined;
      const total = measureSources(sources);
      this.#state.update({
        error: null,
        notice: null,
        copy: { doneBytes: 0, totalBytes: total.bytes, doneFiles: 0, totalFiles: total.files, current: '' },
      });
      try {
        const share = await this.#openShare();
        const result = await copyIn(share.tree, dir, sources, {
          openSink: share.openSink,
          ask: (clash) => this.#ask(clash),
          onProgress: (copy) => this.#state.update({ copy }),
          freeBytes: share.outsideQuota ? undefined : await this.#freeBytes(),
          signal: abort.signal,
        });
        const where = [GUEST_MOUNT, ...dir].join('/');
        const skipped = result.skipped.length > 0 ? ` Skipped: ${result.skipped.join(', ')}.` : '';
        this.#state.update({
          notice: `Copied ${result.files} ${result.files === 1 ? 'file' : 'files'} (${formatBytes(result.bytes)}) to ${where}.${skipped}`,
        });
      } catch (error) {
        this.#fail(error);
      } finally {
        this.#abort = undefined;
        this.#state.update({ copy: null, clash: null });
      }
      await this.refresh();
    };
    this.#copies = this.#copies.then(run);
    return this.#copies;
  }

  #ask(clash: Clash): Promise<ClashChoice> {
    if (this.#answerForAll !== undefined) return Promise.resolve(this.#answerForAll);
    this.#state.update({ clash });
    return new Promise((resolve) => {
      this.#answer = resolve;
    });
  }

  /** Answers the clash question; `forAll` keeps the answer for the rest of this copy. */
  answer(choice: ClashChoice, forAll = false): void {
    const answer = this.#answer;
    if (!answer) return;
    this.#answer = undefined;
    if (forAll) this.#answerForAll = choice;
    this.#state.update({ clash: null });
    answer(choice);
  }

  /** Stops the copy in progress: the item being copied is removed, what was copied before stays. */
  cancelCopy(): void {
    this.#abort?.abort();
    this.answer('skip');
  }

  /** A file's bytes, or a folder as a zip, with the name to save it under; null (and an error) on failure. */
  async download(entry: FolderEntry): Promise<{ blob: Blob; fileName: string } | null> {
    const path = [...this.#view.dir, entry.name];
    const fileName = entry.kind === 'directory' ? `${entry.name}.zip` : entry.name;
    this.#state.update({ preparing: { fileName, doneBytes: 0 }, error: null });
    try {
      const share = await this.#openShare();
      if (entry.kind === 'directory') {
        const zipped = await zipFolder(share.tree, path, {
          onProgress: (doneBytes) => this.#state.update({ preparing: { fileName, doneBytes } }),
        });
        if (zipped.skipped.length > 0) {
          this.#state.update({ notice: `Symlinks are not in ${fileName}: ${zipped.skipped.join(', ')}.` });
        }
        return { blob: zipped.blob, fileName };
      }
      if (entry.kind !== 'file') throw new FilesError('A symlink has no bytes of its own to download.');
      return { blob: share.openFile ? await share.openFile(path) : await readFileBlob(share.tree, path), fileName };
    } catch (error) {
      this.#fail(error);
      return null;
    } finally {
      this.#state.update({ preparing: null });
    }
  }

  /** Deletes a file or a folder with what it holds; false (and an error) on failure. */
  remove(name: string): Promise<boolean> {
    return this.#act(async (tree, dir) => removeEntry(tree, [...dir, name]));
  }

  rename(from: string, to: string): Promise<boolean> {
    return this.#act((tree, dir) => renameEntry(tree, dir, from, to));
  }

  makeFolder(name: string): Promise<boolean> {
    return this.#act((tree, dir) => makeFolder(tree, dir, name));
  }

  async #act(action: (tree: FileTree, dir: readonly string[]) => Promise<void>): Promise<boolean> {
    this.#state.update({ error: null, notice: null });
    let done = false;
    try {
      await action(await this.#getTree(), this.#view.dir);
      done = true;
    } catch (error) {
      this.#fail(error);
    }
    await this.refresh();
    return done;
  }
}

function sameEntries(a: readonly FolderEntry[] | null, b: readonly FolderEntry[]): boolean {
  return (
    a !== null &&
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i]!;
      return x.name === y.name && x.kind === y.kind && x.size === y.size && x.modifiedMs === y.modifiedMs;
    })
  );
}

const sessions = new Map<string, FilesSession>();

/** The session of a VM's shared folder, one per VM for the page's life (the panel and the console share it). */
export function filesSessionFor(vmId: string): FilesSession {
  let session = sessions.get(vmId);
  if (!session) {
    session = new FilesSession(() => openShareAccess(vmId));
    sessions.set(vmId, session);
  }
  return session;
}

const shares = new Map<string, Promise<ShareAccess>>();

/**
 * A VM's shared folder as the page reaches it, opened once per page so the tree's own bookkeeping
 * (modes, set times) is one: the folder on the user's disk that the VM's setting names (read-only if so
 * set), or else the VM's folder in the Origin Private File System (src/storage/vm-share.ts). New files
 * are written through one writable each (openSink), and downloads hand over the storage's File.
 */
function openShareAccess(vmId: string): Promise<ShareAccess> {
  let share = shares.get(vmId);
  if (!share) {
    share = openAccess(vmId);
    share.catch(() => shares.delete(vmId));
    shares.set(vmId, share);
  }
  return share;
}

async function openAccess(vmId: string): Promise<ShareAccess> {
  const host = await loadHostFolder(vmId);
  if (host) {
    if ((await hostFolderAccess(host)) !== 'granted') {
      throw new FilesError(
        `The browser needs your permission again to use the folder “${host.handle.name}” on this computer: press Allow access.`,
      );
    }
    const tree = new DirectoryHandleTree(host.handle, { readOnly: host.readOnly });
    // Read-only: every write goes through the tree, which refuses it.
    return { ...handleAccess(host.handle, tree, !host.readOnly), outsideQuota: true };
  }
  if (!hasVmShares()) {
    throw new FilesError(
      'This browser gives the page no Origin Private File System, so there is no shared folder here.',
    );
  }
  const { handle, tree } = await openVmShare(vmId);
  return handleAccess(handle, tree, true);
}

function handleAccess(handle: FileSystemDirectoryHandle, tree: FileTree, writable: boolean): ShareAccess {
  return {
    tree,
    ...(writable ? { openSink: async (path) => (await fileHandleAt(handle, path)).createWritable() } : {}),
    openFile: async (path) => (await fileHandleAt(handle, path)).getFile(),
  };
}

/** Forgets the folder a VM's session opened (its setting changed) and lists the new one. */
export function reopenShare(vmId: string): Promise<void> {
  shares.delete(vmId);
  return sessions.get(vmId)?.goTo(0) ?? Promise.resolve();
}

async function fileHandleAt(root: FileSystemDirectoryHandle, path: readonly string[]): Promise<FileSystemFileHandle> {
  let dir = root;
  for (const name of path.slice(0, -1)) dir = await dir.getDirectoryHandle(name);
  return dir.getFileHandle(path.at(-1) ?? '');
}
