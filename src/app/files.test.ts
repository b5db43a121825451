/**
 * The Files panel's model over a memory tree (the same FileTree interface the 9p server serves): listing
 * order, names, copy in with clashes, progress, failures and cancel, copy out as a Blob and as a zip,
 * delete, rename, new folder, and the session the panel and the console's drop target share.
 */
import { describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import { MemoryTree } from '../../workers/host/9p/memory-tree.ts';
import { FsError, type FileTree } from '../../workers/host/9p/file-tree.ts';
import { E } from '../../workers/host/9p/protocol.ts';
import {
  copyIn,
  describeError,
  FilesError,
  FilesSession,
  keepBothName,
  listFolder,
  makeFolder,
  nameProblem,
  readFileBlob,
  removeEntry,
  renameEntry,
  sourcesFromDataTransfer,
  sourcesFromFiles,
  zipFolder,
  type Clash,
  type ClashChoice,
  type CopyProgress,
  type CopySource,
} from './files.ts';

const text = (s: string) => new TextEncoder().encode(s);
const file = (name: string, content: string | Uint8Array): CopySource => ({
  kind: 'file',
  name,
  blob: new Blob([typeof content === 'string' ? text(content) : (content as Uint8Array<ArrayBuffer>)]),
});
const folder = (name: string, children: CopySource[]): CopySource => ({ kind: 'directory', name, children });
const never = (): Promise<ClashChoice> => Promise.reject(new Error('no clash expected'));

async function put(tree: FileTree, path: string[], content: string): Promise<void> {
  await tree.create(path, 0o644);
  await tree.write(path, 0, text(content));
}

async function contents(tree: FileTree, path: string[]): Promise<string> {
  const attr = await tree.getattr(path);
  return new TextDecoder().decode(await tree.read(path, 0, attr.size));
}

async function names(tree: FileTree, path: string[] = []): Promise<string[]> {
  return (await tree.readdir(path)).map((e) => e.name).sort();
}

/** Random bytes that deflate cannot shrink, so sizes and chunk counts are what the test says. */
function noise(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(length, i + 65536)));
  return bytes;
}

describe('listing', () => {
  it('lists folders first, then names as people sort them, with sizes and times', async () => {
    let now = Date.UTC(2026, 0, 2, 3, 4, 5);
    const tree = new MemoryTree({ now: () => now });
    await put(tree, ['file10.txt'], 'ten');
    await put(tree, ['file2.txt'], 'two!');
    now += 60_000;
    await tree.mkdir(['zeta'], 0o755);
    await tree.mkdir(['Alpha'], 0o755);
    await tree.symlink(['link'], '/etc/passwd');
    const entries = await listFolder(tree, []);
    expect(entries.map((e) => [e.name, e.kind])).toEqual([
      ['Alpha', 'directory'],
      ['zeta', 'directory'],
      ['file2.txt', 'file'],
      ['file10.txt', 'file'],
      ['link', 'symlink'],
    ]);
    expect(entries.find((e) => e.name === 'file2.txt')).toMatchObject({ size: 4, modifiedMs: now - 60_000 });
    expect(entries.find((e) => e.name === 'zeta')).toMatchObject({ size: 0, modifiedMs: now });
  });

  it('leaves out an entry removed between readdir and getattr', async () => {
    class RacingTree extends MemoryTree {
      override async getattr(path: readonly string[]) {
        if (path[0] === 'a') throw new FsError(E.ENOENT);
        return super.getattr(path);
      }
    }
    const tree = new RacingTree();
    await put(tree, ['a'], 'a');
    await put(tree, ['b'], 'b');
    expect((await listFolder(tree, [])).map((e) => e.name)).toEqual(['b']);
  });
});

describe('names', () => {
  it('refuses what the 9p server refuses', () => {
    expect(nameProblem('notes.txt')).toBeNull();
    expect(nameProblem('')).toMatch(/empty/);
    expect(nameProblem('   ')).toMatch(/empty/);
    expect(nameProblem('.')).toMatch(/cannot be the name/);
    expect(nameProblem('..')).toMatch(/cannot be the name/);
    expect(nameProblem('a/b')).toMatch(/“\/”/);
    expect(nameProblem('a\0b')).toMatch(/NUL/);
    expect(nameProblem('é'.repeat(127))).toBeNull();
    expect(nameProblem('é'.repeat(128))).toMatch(/255 bytes/);
  });

  it('keeps both with a number before the extension', () => {
    const taken = new Set(['report.txt', 'report (1).txt', 'photos', '.bashrc']);
    const has = (name: string) => taken.has(name);
    expect(keepBothName('report.txt', 'file', has)).toBe('report (2).txt');
    expect(keepBothName('photos', 'directory', has)).toBe('photos (1)');
    expect(keepBothName('v1.2', 'directory', has)).toBe('v1.2 (1)');
    expect(keepBothName('.bashrc', 'file', has)).toBe('.bashrc (1)');
  });

  it('turns the relative paths of a chosen folder into folders', () => {
    const chosen = (
      [
        ['top/a.txt', 'a'],
        ['top/sub/b.txt', 'b'],
        ['top/sub/c.txt', 'c'],
      ] as const
    ).map(([path, content]) => {
      const f = new File([content], path.split('/').at(-1)!);
      Object.defineProperty(f, 'webkitRelativePath', { value: path });
      return f;
    });
    const shape = (sources: readonly CopySource[]): unknown =>
      sources.map((s) => (s.kind === 'file' ? s.name : { [s.name]: shape(s.children) }));
    expect(shape(sourcesFromFiles(chosen))).toEqual([{ top: [{ sub: ['b.txt', 'c.txt'] }, 'a.txt'] }]);
    expect(shape(sourcesFromFiles([new File(['x'], 'x.bin'), new File(['y'], 'y.bin')]))).toEqual(['x.bin', 'y.bin']);
  });
});

describe('a drop', () => {
  /** Stand-ins for the entries a drop of a folder from the desktop gives (FileSystemEntry). */
  const fileEntry = (name: string, content: string) => ({
    name,
    isFile: true,
    isDirectory: false,
    file: (resolve: (file: File) => void) => resolve(new File([content], name)),
  });
  /** readEntries hands out at most two entries per call here, as Chromium does in batches of 100. */
  const folderEntry = (name: string, children: object[]) => ({
    name,
    isFile: false,
    isDirectory: true,
    createReader: () => {
      let next = 0;
      return {
        readEntries: (resolve: (batch: object[]) => void) => {
          resolve(children.slice(next, next + 2));
          next += 2;
        },
      };
    },
  });
  const item = (entry: object | null, file: File | null) => ({
    kind: 'file',
    webkitGetAsEntry: () => entry,
    getAsFile: () => file,
  });

  it('walks dropped folders batch by batch, takes files as they are, and ignores text', async () => {
    const folder = folderEntry('photos', [
      fileEntry('a.jpg', 'a'),
      fileEntry('b.jpg', 'b'),
      fileEntry('c.jpg', 'c'),
      folderEntry('raw', [fileEntry('d.raw', 'd')]),
      folderEntry('empty', []),
    ]);
    const plain = new File(['note'], 'note.txt');
    const data = {
      items: [
        item(folder, null),
        item(fileEntry('note.txt', 'note'), plain),
        item(null, new File(['synthetic'], 'synthetic.txt')),
        { kind: 'string', webkitGetAsEntry: () => null, getAsFile: () => null },
      ],
    } as unknown as DataTransfer;
    const sources = await sourcesFromDataTransfer(data);
    const shape = (list: readonly CopySource[]): unknown =>
      list.map((s) => (s.kind === 'file' ? s.name : { [s.name]: shape(s.children) }));
    expect(shape(sources)).toEqual([
      { photos: ['a.jpg', 'b.jpg', 'c.jpg', { raw: ['d.raw'] }, { empty: [] }] },
      'note.txt',
      'synthetic.txt',
    ]);
    expect(sources[1]).toMatchObject({ kind: 'file', blob: plain });
    const tree = new MemoryTree();
    await copyIn(tree, [], sources, { ask: never });
    expect(await contents(tree, ['photos', 'raw', 'd.raw'])).toBe('d');
    expect(await names(tree, ['photos'])).toEqual(['a.jpg', 'b.jpg', 'c.jpg', 'empty', 'raw']);
  });
});

describe('copying in', () => {
  it('copies files and folders a chunk at a time, reporting progress up to the total', async () => {
    const writes: number[] = [];
    class CountingTree extends MemoryTree {
      override write(path: readonly string[], offset: number, data: Uint8Array) {
        writes.push(data.length);
        return super.write(path, offset, data);
      }
    }
    const tree = new CountingTree();
    await tree.mkdir(['inbox'], 0o755);
    const big = noise(10_000);
    const progress: CopyProgress[] = [];
    const listedMeanwhile: string[][] = [];
    const result = await copyIn(
      tree,
      ['inbox'],
      [
        file('big.bin', big),
        folder('docs', [file('a.txt', 'alpha'), folder('empty', []), folder('deep', [file('b.txt', 'beta')])]),
      ],
      {
        ask: never,
        chunkBytes: 4096,
        onProgress: (p) => {
          progress.push(p);
          if (p.doneBytes === 4096) {
            void names(tree, ['inbox']).then((all) => listedMeanwhile.push(all));
            void listFolder(tree, ['inbox']).then((shown) => listedMeanwhile.push(shown.map((e) => e.name)));
          }
        },
      },
    );
    expect(result).toEqual({ copied: ['big.bin', 'docs'], skipped: [], files: 3, bytes: 10_009 });
    expect(writes).toEqual([4096, 4096, 1808, 5, 4]);
    expect(await tree.read(['inbox', 'big.bin'], 0, 20_000)).toEqual(big);
    expect(await contents(tree, ['inbox', 'docs', 'deep', 'b.txt'])).toBe('beta');
    expect(await names(tree, ['inbox', 'docs'])).toEqual(['a.txt', 'deep', 'empty']);
    expect(await names(tree, ['inbox'])).toEqual(['big.bin', 'docs']);
    // While big.bin was copied it had a temporary name, which the listing leaves out.
    expect(listedMeanwhile).toEqual([[expect.stringMatching(/^\.tabvm-copy-/)], []]);
    const done = progress.map((p) => p.doneBytes);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({ doneBytes: 10_009, totalBytes: 10_009, doneFiles: 3, totalFiles: 3 });
    expect(progress.some((p) => p.current === 'inbox/docs/deep/b.txt')).toBe(true);
  });

  it("writes each new file through the storage's sink where it has one, and aborts it on a failure", async () => {
    const tree = new MemoryTree();
    const calls: string[] = [];
    const openSink = async (path: readonly string[]) => {
      calls.push(`open ${path.length}`);
      let offset = 0;
      return {
        write: async (chunk: Uint8Array<ArrayBuffer>) => {
          if (path.length > 1 && offset >= 4096) throw new FsError(E.ENOSPC);
          calls.push(`write ${chunk.length}`);
          await tree.write(path, offset, chunk);
          offset += chunk.length;
        },
        close: async () => void calls.push('close'),
        abort: async () => void calls.push('abort'),
      };
    };
    await copyIn(tree, [], [file('a.bin', noise(5000))], { ask: never, chunkBytes: 4096, openSink });
    expect(calls).toEqual(['open 1', 'write 4096', 'write 904', 'close']);
    expect((await tree.getattr(['a.bin'])).size).toBe(5000);
    calls.length = 0;
    const error = await copyIn(tree, [], [folder('f', [file('b.bin', noise(5000))])], {
      ask: never,
      chunkBytes: 4096,
      openSink,
    }).catch((e: unknown) => e);
    expect((error as FsError).errno).toBe(E.ENOSPC);
    expect(calls).toEqual(['open 2', 'write 4096', 'abort']);
    expect(await names(tree)).toEqual(['a.bin']);
  });

  it('asks about each clash: replace, keep both, skip', async () => {
    const tree = new MemoryTree();
    await put(tree, ['a.txt'], 'old a');
    await put(tree, ['b.txt'], 'old b');
    await put(tree, ['c.txt'], 'old c');
    await tree.mkdir(['dir'], 0o755);
    await put(tree, ['dir', 'stale.txt'], 'stale');
    const asked: Clash[] = [];
    const answers: Record<string, ClashChoice> = {
      'a.txt': 'replace',
      'b.txt': 'keep-both',
      'c.txt': 'skip',
      dir: 'replace',
    };
    const result = await copyIn(
      tree,
      [],
      [
        file('a.txt', 'new a'),
        file('b.txt', 'new b'),
        file('c.txt', 'new c'),
        folder('dir', [file('fresh.txt', 'fresh')]),
        file('d.txt', 'd'),
      ],
      {
        ask: async (clash) => {
          asked.push(clash);
          return answers[clash.name] ?? 'skip';
        },
      },
    );
    expect(asked).toEqual([
      { name: 'a.txt', kind: 'file', existing: 'file' },
      { name: 'b.txt', kind: 'file', existing: 'file' },
      { name: 'c.txt', kind: 'file', existing: 'file' },
      { name: 'dir', kind: 'directory', existing: 'directory' },
    ]);
    expect(result.copied).toEqual(['a.txt', 'b (1).txt', 'dir', 'd.txt']);
    expect(result.skipped).toEqual(['c.txt']);
    expect(await contents(tree, ['a.txt'])).toBe('new a');
    expect(await contents(tree, ['b.txt'])).toBe('old b');
    expect(await contents(tree, ['b (1).txt'])).toBe('new b');
    expect(await contents(tree, ['c.txt'])).toBe('old c');
    expect(await names(tree, ['dir'])).toEqual(['fresh.txt']);
    expect(await names(tree)).toEqual(['a.txt', 'b (1).txt', 'b.txt', 'c.txt', 'd.txt', 'dir']);
  });

  it('replaces a folder with a file and a file with a folder', async () => {
    const tree = new MemoryTree();
    await tree.mkdir(['x'], 0o755);
    await put(tree, ['x', 'inner'], 'inner');
    await put(tree, ['y'], 'y');
    await copyIn(tree, [], [file('x', 'now a file'), folder('y', [file('z', 'z')])], { ask: async () => 'replace' });
    expect(await contents(tree, ['x'])).toBe('now a file');
    expect(await contents(tree, ['y', 'z'])).toBe('z');
  });

  it('a full storage keeps what was copied before and the file being replaced, and leaves nothing half-written', async () => {
    const tree = new MemoryTree({ maxBytes: 20_000 });
    await put(tree, ['keep.txt'], 'precious');
    const error = await copyIn(
      tree,
      [],
      [
        file('first.bin', noise(8_000)),
        folder('second', [file('ok', 'ok'), file('huge.bin', noise(30_000))]),
        file('third', '3'),
      ],
      { ask: never, chunkBytes: 4096 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FsError);
    expect((error as FsError).errno).toBe(E.ENOSPC);
    expect(describeError(error)).toMatch(/storage for this site is full; nothing stored before was lost/);
    expect(await names(tree)).toEqual(['first.bin', 'keep.txt']);
    expect(await contents(tree, ['keep.txt'])).toBe('precious');

    const replacing = await copyIn(tree, [], [file('keep.txt', noise(30_000))], { ask: async () => 'replace' }).catch(
      (e: unknown) => e,
    );
    expect(replacing).toBeInstanceOf(FsError);
    expect(await names(tree)).toEqual(['first.bin', 'keep.txt']);
    expect(await contents(tree, ['keep.txt'])).toBe('precious');
  });

  it('refuses a copy larger than the free storage before writing anything', async () => {
    const tree = new MemoryTree();
    const error = await copyIn(tree, [], [file('a', 'aaaa'), file('b', noise(5000))], {
      ask: never,
      freeBytes: 3000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FilesError);
    expect((error as Error).message).toBe(
      'Copying needs 4.9 KiB, but the browser lets this site store only 2.9 KiB more; nothing was copied.',
    );
    expect(await names(tree)).toEqual([]);
  });

  it('refuses a read-only share and a bad name', async () => {
    await expect(copyIn(new MemoryTree({ readOnly: true }), [], [file('a', 'a')], { ask: never })).rejects.toThrow(
      'This shared folder is read-only.',
    );
    const tree = new MemoryTree();
    await expect(copyIn(tree, [], [folder('ok', [file('..', 'x')])], { ask: never })).rejects.toThrow(
      '“..” cannot be copied: “..” cannot be the name of a file or folder.',
    );
    expect(await names(tree)).toEqual([]);
  });

  it('a cancel removes the item being copied and keeps the ones before', async () => {
    const tree = new MemoryTree();
    const abort = new AbortController();
    const error = await copyIn(tree, [], [file('done.txt', 'done'), file('big.bin', noise(50_000))], {
      ask: never,
      chunkBytes: 4096,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.doneBytes > 10_000) abort.abort();
      },
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('The copy was cancelled.');
    expect(await names(tree)).toEqual(['done.txt']);
  });
});

describe('copying out', () => {
  it('reads a file into a Blob a chunk at a time', async () => {
    const tree = new MemoryTree();
    const bytes = noise(100_000);
    await tree.create(['f'], 0o644);
    await tree.write(['f'], 0, bytes);
    const seen: number[] = [];
    const blob = await readFileBlob(tree, ['f'], { chunkBytes: 30_000, onProgress: (n) => seen.push(n) });
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
    expect(seen).toEqual([30_000, 60_000, 90_000, 100_000]);
  });

  it('zips a folder with its subfolders, empty ones included, and lists the symlinks it left out', async () => {
    const tree = new MemoryTree({ now: () => Date.UTC(2026, 5, 1, 12, 0, 0) });
    await tree.mkdir(['project'], 0o755);
    await put(tree, ['project', 'README'], 'read me');
    await tree.mkdir(['project', 'src'], 0o755);
    await tree.mkdir(['project', 'empty'], 0o755);
    const big = noise(70_000);
    await tree.create(['project', 'src', 'data.bin'], 0o644);
    await tree.write(['project', 'src', 'data.bin'], 0, big);
    await tree.symlink(['project', 'src', 'link'], 'data.bin');
    const result = await zipFolder(tree, ['project'], { chunkBytes: 16_384 });
    expect(result.files).toBe(2);
    expect(result.skipped).toEqual(['src/link']);
    expect(result.blob.type).toBe('application/zip');
    const entries = unzipSync(new Uint8Array(await result.blob.arrayBuffer()));
    expect(Object.keys(entries).sort()).toEqual(['README', 'empty/', 'src/', 'src/data.bin']);
    expect(new TextDecoder().decode(entries['README'])).toBe('read me');
    expect(entries['src/data.bin']).toEqual(big);
    expect(entries['empty/']).toEqual(new Uint8Array(0));
  });
});

describe('changes', () => {
  it('removes a folder with everything in it', async () => {
    const tree = new MemoryTree();
    await tree.mkdir(['a'], 0o755);
    await tree.mkdir(['a', 'b'], 0o755);
    await put(tree, ['a', 'b', 'c'], 'c');
    await tree.symlink(['a', 'l'], 'b');
    await put(tree, ['other'], 'o');
    await removeEntry(tree, ['a']);
    expect(await names(tree)).toEqual(['other']);
  });

  it('renames without replacing, and makes folders', async () => {
    const tree = new MemoryTree();
    await put(tree, ['a'], 'a');
    await put(tree, ['b'], 'b');
    await expect(renameEntry(tree, [], 'a', 'b')).rejects.toThrow('Something called “b” is already in this folder.');
    await expect(renameEntry(tree, [], 'a', 'x/y')).rejects.toThrow('A name cannot contain “/”.');
    await renameEntry(tree, [], 'a', 'c');
    expect(await names(tree)).toEqual(['b', 'c']);
    expect(await contents(tree, ['c'])).toBe('a');
    await makeFolder(tree, [], 'new');
    await expect(makeFolder(tree, [], 'new')).rejects.toThrow('Something called “new” is already in this folder.');
    expect((await tree.getattr(['new'])).kind).toBe('directory');
  });

  it('says a failure in one plain sentence', () => {
    expect(describeError(new FsError(E.EROFS))).toBe('This shared folder is read-only.');
    expect(describeError(new FsError(E.ENOENT))).toMatch(/not there any more/);
    expect(describeError(new DOMException('over', 'QuotaExceededError'))).toMatch(/storage for this site is full/);
    expect(describeError(new FsError(E.EIO, 'disk gone'))).toBe('The shared folder refused it (error 5: disk gone).');
    expect(describeError(new FsError(E.EEXIST))).toBe('Something with that name is already there.');
    expect(describeError(new FsError(E.ENOTEMPTY))).toBe('The folder is not empty.');
    expect(describeError(new FsError(E.EBUSY))).toMatch(/^The guest has that file open for writing/);
    expect(describeError(new FsError(E.EACCES))).toMatch(/permission denied/);
    expect(describeError(new FsError(E.EPERM))).toMatch(/permission denied/);
  });
});

describe('the session', () => {
  const session = (tree: FileTree, freeBytes?: number) =>
    new FilesSession(
      async () => ({ tree }),
      async () => freeBytes,
    );

  it('shows what changed in the tree at the next refresh, and only then makes a new view', async () => {
    const tree = new MemoryTree();
    const s = session(tree);
    await s.refresh();
    expect(s.getView().entries).toEqual([]);
    const before = s.getView();
    await s.refresh();
    expect(s.getView()).toBe(before);
    await put(tree, ['from-guest.txt'], 'hi\n');
    await s.refresh();
    expect(s.getView().entries?.map((e) => [e.name, e.size])).toEqual([['from-guest.txt', 3]]);
  });

  it('never lets a slow listing replace a later one, and polls one at a time', async () => {
    const gates: (() => void)[] = [];
    let listings = 0;
    class SlowTree extends MemoryTree {
      override async readdir(path: readonly string[]) {
        const entries = await super.readdir(path);
        listings++;
        if (gates.length < 1) await new Promise<void>((resolve) => gates.push(resolve));
        return entries;
      }
    }
    const tree = new SlowTree();
    const s = session(tree);
    const slow = s.refresh(); // lists an empty folder, then waits
    await expect.poll(() => gates.length).toBe(1);
    await put(tree, ['new.txt'], 'x');
    await s.refresh();
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['new.txt']);
    gates[0]!();
    await slow;
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['new.txt']);

    const before = listings;
    await Promise.all([s.poll(), s.poll(), s.poll()]);
    expect(listings).toBe(before + 1);
  });

  it('opens folders, goes back by the breadcrumb, and falls back to a parent that still exists', async () => {
    const tree = new MemoryTree();
    await tree.mkdir(['a'], 0o755);
    await tree.mkdir(['a', 'b'], 0o755);
    await put(tree, ['a', 'b', 'f'], 'f');
    const s = session(tree);
    await s.refresh();
    await s.open('a');
    await s.open('b');
    expect(s.getView().dir).toEqual(['a', 'b']);
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['f']);
    await s.goTo(1);
    expect(s.getView().dir).toEqual(['a']);
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['b']);
    await s.open('b');
    await removeEntry(tree, ['a']);
    await s.refresh();
    expect(s.getView().dir).toEqual([]);
    expect(s.getView().entries).toEqual([]);
  });

  it('copies into the folder shown, asks about a clash, and tells what it did', async () => {
    const tree = new MemoryTree();
    await tree.mkdir(['in'], 0o755);
    await put(tree, ['in', 'a.txt'], 'old');
    await put(tree, ['in', 'b.txt'], 'old');
    const s = session(tree);
    await s.open('in');
    const copying = s.copyIn([file('a.txt', 'new'), file('b.txt', 'new'), file('c.txt', 'new')]);
    await expect.poll(() => s.getView().clash).toEqual({ name: 'a.txt', kind: 'file', existing: 'file' });
    expect(s.getView().copy).toMatchObject({ totalFiles: 3, totalBytes: 9 });
    s.answer('keep-both', true);
    await copying;
    expect(s.getView()).toMatchObject({
      clash: null,
      copy: null,
      error: null,
      notice: 'Copied 3 files (9 B) to /mnt/shared/in.',
    });
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['a (1).txt', 'a.txt', 'b (1).txt', 'b.txt', 'c.txt']);
  });

  it('a cancelled question copies nothing more, and a too-large copy is refused with the reason', async () => {
    const tree = new MemoryTree();
    await put(tree, ['a'], 'old');
    const s = session(tree, 100);
    await s.refresh();
    const copying = s.copyIn([file('a', 'new'), file('b', 'b')]);
    await expect.poll(() => s.getView().clash).not.toBeNull();
    s.cancelCopy();
    await copying;
    expect(s.getView().error).toBe('The copy was cancelled.');
    expect(await names(tree)).toEqual(['a']);
    await s.copyIn([file('big', noise(200))]);
    expect(s.getView().error).toMatch(/^Copying needs 200 B, but the browser lets this site store only 100 B more/);
    expect(await names(tree)).toEqual(['a']);
  });

  it('downloads a file and a folder, renames, deletes and makes folders in the folder shown', async () => {
    const tree = new MemoryTree();
    await tree.mkdir(['d'], 0o755);
    await put(tree, ['d', 'out.txt'], 'hi\n');
    const s = session(tree);
    await s.refresh();
    const preparing: unknown[] = [];
    const unsubscribe = s.subscribe(() => preparing.push(s.getView().preparing));
    const zipped = await s.download(s.getView().entries![0]!);
    unsubscribe();
    expect(preparing).toEqual([{ fileName: 'd.zip', doneBytes: 0 }, { fileName: 'd.zip', doneBytes: 3 }, null]);
    expect(zipped?.fileName).toBe('d.zip');
    expect(Object.keys(unzipSync(new Uint8Array(await zipped!.blob.arrayBuffer())))).toEqual(['out.txt']);
    await s.open('d');
    const one = await s.download(s.getView().entries![0]!);
    expect(one?.fileName).toBe('out.txt');
    expect(await one!.blob.text()).toBe('hi\n');
    expect(await s.rename('out.txt', 'renamed.txt')).toBe(true);
    expect(await s.makeFolder('sub')).toBe(true);
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['sub', 'renamed.txt']);
    expect(await s.rename('renamed.txt', 'sub')).toBe(false);
    expect(s.getView().error).toBe('Something called “sub” is already in this folder.');
    expect(await s.remove('renamed.txt')).toBe(true);
    expect(s.getView().error).toBeNull();
    expect(s.getView().entries?.map((e) => e.name)).toEqual(['sub']);
  });
});
