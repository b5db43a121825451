/**
 * The backend suite over `DirectoryHandleTree`, for a Chromium page or dedicated worker (Node has no
 * OPFS): e2e/handle-tree.spec.ts bundles this file with `vitest` aliased to browser-vitest.ts and calls
 * `run()` in the page (writes through writables) and in a worker (sync access handles). Each test gets
 * a fresh folder under `handle-tree-tests/` in the origin's OPFS.
 */
import { describe, expect, it, runTests, type TestResult } from './browser-vitest.ts';
import { readOnlyView, serverSuite } from './server-suite.ts';
import { ScriptedClient } from './client.ts';
import { DirectoryHandleTree, errnoOf } from '../handle-tree.ts';
import { NinePServer } from '../server.ts';
import { E, O_CREAT, O_RDWR, O_WRONLY, P9 } from '../protocol.ts';
import { FsError } from '../file-tree.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

let folders = 0;

async function freshFolder(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  const tests = await root.getDirectoryHandle('handle-tree-tests', { create: true });
  return tests.getDirectoryHandle(`t${folders++}-${Math.random().toString(36).slice(2)}`, { create: true });
}

async function fileText(dir: FileSystemDirectoryHandle, ...path: string[]): Promise<string> {
  let d = dir;
  for (const name of path.slice(0, -1)) d = await d.getDirectoryHandle(name);
  return (await (await d.getFileHandle(path[path.length - 1]!)).getFile()).text();
}

serverSuite(
  'a directory handle (OPFS)',
  async () => {
    const tree = new DirectoryHandleTree(await freshFolder());
    return { tree, readOnly: readOnlyView(tree) };
  },
  { symlinks: false, hardLinks: false },
);

describe('DirectoryHandleTree', () => {
  it('stores what the guest writes as plain files, and sees files others make', async () => {
    const dir = await freshFolder();
    const c = new ScriptedClient(new NinePServer(new DirectoryHandleTree(dir)));
    await c.version();
    await c.attach(0);
    await c.call(P9.Tmkdir, [
      ['u32', 0],
      ['s', 'd'],
      ['u32', 0o700],
      ['u32', 0],
    ]);
    await c.walk(0, 1, ['d']);
    await c.lcreate(1, 'poem.txt', O_RDWR | O_CREAT, 0o600);
    await c.write(1, 0, text('two words'));
    await c.write(1, 20, text('!'));
    expect(await fileText(dir, 'd', 'poem.txt')).toBe('two words\0\0\0\0\0\0\0\0\0\0\0!');
    // A file made outside the tree: default modes, its bytes and size.
    const outside = await dir.getFileHandle('from-page', { create: true });
    const writable = await outside.createWritable();
    await writable.write('hello');
    await writable.close();
    await c.walk(0, 2, ['from-page']);
    const attr = await c.getattr(2);
    expect([attr.mode, attr.size]).toEqual([0o100644, 5n]);
    expect((await c.getattr(0)).mode).toBe(0o40755);
    expect((await c.getattr(1)).mode).toBe(0o100600);
    await c.lopen(2, O_RDWR);
    expect(str(await c.read(2, 1, 100))).toBe('ello');
    // The guest's write, then the page's view of it while the fid still holds the file.
    await c.write(2, 5, text(' world'));
    expect(await fileText(dir, 'from-page')).toBe('hello world');
  });

  it('moves directories with their files, and fids follow', async () => {
    const dir = await freshFolder();
    const c = new ScriptedClient(new NinePServer(new DirectoryHandleTree(dir)));
    await c.version();
    await c.attach(0);
    for (const name of ['a', 'b']) {
      await c.call(P9.Tmkdir, [
        ['u32', 0],
        ['s', name],
        ['u32', 0o755],
        ['u32', 0],
      ]);
    }
    await c.walk(0, 1, ['a']);
    await c.call(P9.Tmkdir, [
      ['u32', 1],
      ['s', 'inner'],
      ['u32', 0o755],
      ['u32', 0],
    ]);
    await c.walk(0, 2, ['a', 'inner']);
    await c.lcreate(2, 'f', O_WRONLY | O_CREAT);
    await c.write(2, 0, text('kept'));
    const before = (await c.getattr(2)).qid.path;
    // Onto an empty directory (replaced), as rename(2).
    await c.call(P9.Trenameat, [
      ['u32', 0],
      ['s', 'a'],
      ['u32', 0],
      ['s', 'b'],
    ]);
    expect(await fileText(dir, 'b', 'inner', 'f')).toBe('kept');
    await c.write(2, 4, text('!'));
    expect(await fileText(dir, 'b', 'inner', 'f')).toBe('kept!');
    expect((await c.getattr(2)).qid.path).toBe(before);
    const names: string[] = [];
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    expect(names).toEqual(['b']);
  });

  it('keeps modes and set times for its own life, and a later write moves mtime on', async () => {
    const dir = await freshFolder();
    const tree = new DirectoryHandleTree(dir);
    await tree.create(['x'], 0o755);
    await tree.setattr(['x'], { mtimeNs: 1_000_000_000_000_000_000n });
    expect((await tree.getattr(['x'])).mtimeNs).toBe(1_000_000_000_000_000_000n);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await tree.write(['x'], 0, text('y'));
    expect((await tree.getattr(['x'])).mtimeNs).toBeGreaterThan(1_600_000_000_000_000_000n);
    expect((await tree.getattr(['x'])).mode).toBe(0o755);
    // Another tree over the same folder starts from the defaults.
    expect((await new DirectoryHandleTree(dir).getattr(['x'])).mode).toBe(0o644);
  });

  it('maps the handle API failures to errno', async () => {
    expect(errnoOf(new DOMException('full', 'QuotaExceededError'))).toBe(E.ENOSPC);
    expect(errnoOf(new DOMException('locked', 'NoModificationAllowedError'))).toBe(E.EBUSY);
    expect(errnoOf(new DOMException('denied', 'NotAllowedError'))).toBe(E.EACCES);
    const tree = new DirectoryHandleTree(await freshFolder());
    await tree.create(['f'], 0o644);
    const errno = (p: Promise<unknown>) =>
      p.then(
        () => 0,
        (e: unknown) => (e instanceof FsError ? e.errno : -1),
      );
    expect(await errno(tree.getattr(['f', 'g']))).toBe(E.ENOTDIR);
    expect(await errno(tree.getattr(['missing']))).toBe(E.ENOENT);
    expect(await errno(tree.create(['f'], 0o644))).toBe(E.EEXIST);
    expect(await errno(tree.mkdir(['f'], 0o755))).toBe(E.EEXIST);
    expect(await errno(tree.read([], 0, 1))).toBe(E.EISDIR);
  });
});

export function run(): Promise<TestResult[]> {
  return runTests();
}

/** For the spec's own scripts across a page and a worker: the tree, and a folder by name. */
export { DirectoryHandleTree, FsError };

export async function namedFolder(name: string): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  const tests = await root.getDirectoryHandle('handle-tree-tests', { create: true });
  return tests.getDirectoryHandle(name, { create: true });
}
