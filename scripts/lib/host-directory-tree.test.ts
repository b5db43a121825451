import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { HostDirectoryTree } from './host-directory-tree.ts';
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
