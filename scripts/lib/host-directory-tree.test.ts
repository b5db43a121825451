import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { HostDirectoryTree, MAX_HELD_DESCRIPTORS } from './host-directory-tree.ts';
import { NinePServer } from '../../workers/host/9p/server.ts';
import { E, O_CREAT, O_RDONLY, O_RDWR, P9 } from '../../workers/host/9p/protocol.ts';
import { FsError } from '../../workers/host/9p/file-tree.ts';
import { ScriptedClient } from '../../workers/host/9p/test-support/client.ts';
import { serverSuite } from '../../workers/host/9p/test-support/server-suite.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tabvm-9p-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
let count = 0;
const freshDirectory = () => {
  const dir = path.join(scratch, `share-${count++}`);
  fs.mkdirSync(dir);
  return dir;
};

serverSuite('a host directory', () => {
  const dir = freshDirectory();
  return { tree: new HostDirectoryTree(dir), readOnly: new HostDirectoryTree(dir, true) };
});

describe('a host directory share', () => {
  let share: string;
  let outside: string;
  let c: ScriptedClient;
  let tree: HostDirectoryTree;

  beforeEach(async () => {
    share = freshDirectory();
    outside = freshDirectory();
    fs.writeFileSync(path.join(outside, 'secret'), 'outside');
    fs.writeFileSync(path.join(share, 'inside'), 'inside');
    fs.mkdirSync(path.join(share, 'sub'));
    fs.symlinkSync(outside, path.join(share, 'abs-dir'));
    fs.symlinkSync(path.join(outside, 'secret'), path.join(share, 'abs-file'));
    fs.symlinkSync('../../' + path.basename(outside) + '/secret', path.join(share, 'sub', 'rel-file'));
    fs.symlinkSync('..', path.join(share, 'sub', 'up'));
    tree = new HostDirectoryTree(share);
    c = new ScriptedClient(new NinePServer(tree));
    await c.version();
    await c.attach(0);
  });

  it('reads and writes the host files in place', async () => {
    await c.walk(0, 1, ['inside']);
    await c.lopen(1, O_RDWR);
    expect(new TextDecoder().decode(await c.read(1, 0, 100))).toBe('inside');
    await c.write(1, 6, new TextEncoder().encode('!'));
    expect(fs.readFileSync(path.join(share, 'inside'), 'utf8')).toBe('inside!');
    await c.walk(0, 2, ['sub']);
    await c.lcreate(2, 'new', O_RDWR | O_CREAT, 0o640);
    expect(fs.statSync(path.join(share, 'sub', 'new')).mode & 0o777).toBe(0o640);
  });

  it('never follows a symlink out of the share', async () => {
    // The guest sees the links as links, with their targets, and cannot open or walk through them.
    for (const link of ['abs-dir', 'abs-file']) {
      await c.walk(0, 1, [link]);
      expect(
        await c.errno(P9.Tlopen, [
          ['u32', 1],
          ['u32', O_RDONLY],
        ]),
      ).toBe(E.ELOOP);
      await c.clunk(1);
    }
    expect((await c.walk(0, 1, ['abs-dir', 'secret'])).length).toBe(1);
    await c.walk(0, 2, ['sub', 'rel-file']);
    expect(
      await c.errno(P9.Tlopen, [
        ['u32', 2],
        ['u32', O_RDONLY],
      ]),
    ).toBe(E.ELOOP);
    // '..' at the root stays there, and a link to '..' is not walked through.
    const root = (await c.getattr(0)).qid.path;
    const qids = await c.walk(0, 3, ['..', '..', '..']);
    expect(qids.every((q) => q.path === root)).toBe(true);
    expect((await c.walk(0, 4, ['sub', 'up', 'up'])).length).toBe(2);
    // Creating through a link to a directory outside: the walk stops at the link.
    await c.walk(0, 5, ['abs-dir']);
    expect(
      await c.errno(P9.Tlcreate, [
        ['u32', 5],
        ['s', 'x'],
        ['u32', O_RDWR | O_CREAT],
        ['u32', 0o644],
        ['u32', 0],
      ]),
    ).toBe(E.ENOTDIR);
    expect(
      await c.errno(P9.Tmkdir, [
        ['u32', 5],
        ['s', 'x'],
        ['u32', 0o755],
        ['u32', 0],
      ]),
    ).toBe(E.ENOTDIR);
    // The backend itself refuses a path through a link, whatever the server asks.
    await expect(tree.read(['abs-dir', 'secret'], 0, 100)).rejects.toMatchObject({ errno: E.ELOOP });
    await expect(tree.write(['abs-dir', 'x'], 0, new Uint8Array(1))).rejects.toMatchObject({ errno: E.ELOOP });
    await expect(tree.read(['abs-file'], 0, 100)).rejects.toBeInstanceOf(FsError);
    await expect(tree.setattr(['abs-file'], { size: 0 })).rejects.toMatchObject({ errno: E.EOPNOTSUPP });
    await expect(tree.create(['abs-file'], 0o644)).rejects.toMatchObject({ errno: E.EEXIST });
    expect(fs.readdirSync(outside)).toEqual(['secret']);
    expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('outside');
  });

  it('refuses a missing or non-directory share with a sentence', () => {
    expect(() => new HostDirectoryTree(path.join(scratch, 'missing'))).toThrow(/does not exist/);
    expect(() => new HostDirectoryTree(path.join(share, 'inside'))).toThrow(/is not a directory/);
  });
});

describe('a host directory share holding open files', () => {
  let share: string;
  let c: ScriptedClient;
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  /** This process's open descriptors: what the tree holds shows up here. */
  const descriptors = () => fs.readdirSync('/proc/self/fd').length;
  /** Trenameat within the directory of fid `dir`. */
  const renameat = (from: string, to: string, dir = 0) =>
    c.call(P9.Trenameat, [
      ['u32', dir],
      ['s', from],
      ['u32', dir],
      ['s', to],
    ]);

  beforeEach(async () => {
    share = freshDirectory();
    fs.writeFileSync(path.join(share, 'f'), 'first');
    fs.mkdirSync(path.join(share, 'd'));
    fs.writeFileSync(path.join(share, 'd', 'g'), 'in d');
    c = new ScriptedClient(new NinePServer(new HostDirectoryTree(share)));
    await c.version();
    await c.attach(0);
  });

  it('keeps one descriptor per open file and use, and closes it at Tclunk and Tremove', async () => {
    const before = descriptors();
    await c.walk(0, 1, ['f']);
    await c.lopen(1, O_RDWR);
    expect(descriptors()).toBe(before); // opened on first use
    await c.read(1, 0, 5);
    await c.read(1, 0, 5);
    await c.write(1, 5, new TextEncoder().encode('!'));
    expect(descriptors()).toBe(before + 2);
    await c.walk(0, 2, ['f']);
    await c.lopen(2, O_RDONLY);
    expect(text(await c.read(2, 0, 10))).toBe('first!');
    expect(descriptors()).toBe(before + 2); // the second fid shares them
    await c.clunk(1);
    expect(descriptors()).toBe(before + 2);
    await c.call(P9.Tremove, [['u32', 2]]);
    expect(descriptors()).toBe(before);
    expect(fs.existsSync(path.join(share, 'f'))).toBe(false);
  });

  it('follows a rename by the guest, and reopens a path renamed over or removed', async () => {
    const before = descriptors();
    await c.walk(0, 1, ['d', 'g']);
    await c.lopen(1, O_RDONLY);
    expect(text(await c.read(1, 0, 10))).toBe('in d');
    await renameat('d', 'e'); // the open file moves with its directory, and the fid with it
    fs.writeFileSync(path.join(share, 'e', 'g2'), 'other');
    expect(text(await c.read(1, 0, 10))).toBe('in d');
    expect(descriptors()).toBe(before + 1); // the same descriptor, under its new path
    // Refused (a file over a directory): nothing moves, and fid 1 still reads the same file.
    await expect(renameat('f', 'e')).rejects.toThrow(`Rlerror ${E.EISDIR}`);
    expect(text(await c.read(1, 0, 10))).toBe('in d');
    await c.walk(0, 2, ['e', 'g2']);
    await c.lopen(2, O_RDONLY);
    expect(text(await c.read(2, 0, 10))).toBe('other');
    // Renamed over: fid 1 names e/g, which is now the file that was e/g2 (paths, as before the cache).
    await c.walk(0, 3, ['e']);
    await renameat('g2', 'g', 3);
    expect(text(await c.read(1, 0, 10))).toBe('other');
    expect(text(await c.read(2, 0, 10))).toBe('other');
    // Removed, then made again by the host: the path is opened again and reads the new file.
    await c.call(P9.Tunlinkat, [
      ['u32', 3],
      ['s', 'g'],
      ['u32', 0],
    ]);
    expect(
      await c.errno(P9.Tread, [
        ['u32', 1],
        ['u64', 0n],
        ['u32', 10],
      ]),
    ).toBe(E.ENOENT);
    fs.writeFileSync(path.join(share, 'e', 'g'), 'new');
    expect(text(await c.read(1, 0, 10))).toBe('new');
    // Both fids name e/g: their holds moved and merged with the renames, so two clunks close it all.
    await c.clunk(1);
    await c.clunk(2);
    expect(descriptors()).toBe(before);
  });

  it('reads a held file through its descriptor when a host process replaces it, as QEMU does', async () => {
    await c.walk(0, 1, ['f']);
    await c.lopen(1, O_RDONLY);
    expect(text(await c.read(1, 0, 10))).toBe('first');
    fs.writeFileSync(path.join(share, 'replacement'), 'second');
    fs.renameSync(path.join(share, 'replacement'), path.join(share, 'f'));
    expect(text(await c.read(1, 0, 10))).toBe('first');
    await c.walk(0, 2, ['f']);
    await c.lopen(2, O_RDONLY);
    await c.clunk(1);
    // Fid 2 holds the path too: the old descriptor stays until its last fid lets go.
    expect(text(await c.read(2, 0, 10))).toBe('first');
    await c.clunk(2);
    await c.walk(0, 3, ['f']);
    await c.lopen(3, O_RDONLY);
    expect(text(await c.read(3, 0, 10))).toBe('second');
  });

  it(`keeps at most ${MAX_HELD_DESCRIPTORS} descriptors; past that, requests open and close the file`, async () => {
    const before = descriptors();
    const files = MAX_HELD_DESCRIPTORS + 10;
    for (let i = 0; i < files; i++) {
      fs.writeFileSync(path.join(share, `n${i}`), `file ${i}`);
      await c.walk(0, 100 + i, [`n${i}`]);
      await c.lopen(100 + i, O_RDONLY);
      expect(text(await c.read(100 + i, 0, 20))).toBe(`file ${i}`);
    }
    expect(descriptors()).toBe(before + MAX_HELD_DESCRIPTORS);
    await c.version(); // clunks every fid
    expect(descriptors()).toBe(before);
  });

  it('opens a held file with the containment checks: a directory swapped for a symlink is refused', async () => {
    const outside = freshDirectory();
    fs.writeFileSync(path.join(outside, 'g'), 'outside');
    await c.walk(0, 1, ['d', 'g']);
    await c.lopen(1, O_RDONLY); // held, not yet opened
    fs.renameSync(path.join(share, 'd'), path.join(share, 'd-moved'));
    fs.symlinkSync(outside, path.join(share, 'd'));
    expect(
      await c.errno(P9.Tread, [
        ['u32', 1],
        ['u64', 0n],
        ['u32', 10],
      ]),
    ).toBe(E.ELOOP);
  });
});
