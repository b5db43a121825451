/**
 * The 9p server's behaviour over a backend, as a suite any `FileTree` must pass: run against the
 * in-memory tree (server.test.ts) and a real host directory (scripts/lib/host-directory-tree.test.ts).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { FileTree } from '../file-tree.ts';
import {
  AT_REMOVEDIR,
  ATTR_MODE,
  ATTR_MTIME,
  ATTR_MTIME_SET,
  ATTR_SIZE,
  DT_DIR,
  DT_LNK,
  DT_REG,
  E,
  O_APPEND,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  P9,
  QTDIR,
  QTFILE,
  QTSYMLINK,
  V9FS_MAGIC,
} from '../protocol.ts';
import { NinePServer } from '../server.ts';
import { ScriptedClient, type Field } from './client.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Tsetattr's fields: fid, valid, mode, uid, gid, size, atime, mtime. */
function setattrFields(fid: number, valid: number, o: { mode?: number; size?: bigint; mtime?: bigint }): Field[] {
  return [
    ['u32', fid],
    ['u32', valid],
    ['u32', o.mode ?? 0],
    ['u32', 0],
    ['u32', 0],
    ['u64', o.size ?? 0n],
    ['u64', 0n],
    ['u64', 0n],
    ['u64', o.mtime ?? 0n],
    ['u64', 0n],
  ];
}

/** What a backend can store beyond files and directories; without it the server answers EOPNOTSUPP. */
export interface BackendFeatures {
  readonly symlinks: boolean;
  readonly hardLinks: boolean;
}

/** `open` gives a fresh tree and a read-only tree over the same storage. */
export function serverSuite(
  name: string,
  open: () => { tree: FileTree; readOnly: FileTree } | Promise<{ tree: FileTree; readOnly: FileTree }>,
  features: BackendFeatures = { symlinks: true, hardLinks: true },
): void {
  describe(`9p server over ${name}`, () => {
    let tree: FileTree;
    let readOnlyTree: FileTree;
    let server: NinePServer;
    let c: ScriptedClient;

    beforeEach(async () => {
      ({ tree, readOnly: readOnlyTree } = await open());
      server = new NinePServer(tree);
      c = new ScriptedClient(server);
      await c.version();
      await c.attach(0);
    });

    /** Creates `name` in the root with `content`, leaving fid `fid` open on it for writing. */
    async function createFile(fid: number, fileName: string, content: string): Promise<void> {
      await c.walk(0, fid, []);
      await c.lcreate(fid, fileName, O_RDWR | O_CREAT);
      await c.write(fid, 0, text(content));
    }

    it('negotiates the version and clamps msize', async () => {
      expect(await c.version(1 << 30)).toEqual({ msize: 512 * 1024, version: '9P2000.L' });
      expect(await c.version(8192, '9P2000.u')).toEqual({ msize: 8192, version: 'unknown' });
      expect(
        await c.errno(P9.Tversion, [
          ['u32', 100],
          ['s', '9P2000.L'],
        ]),
      ).toBe(E.EINVAL);
      // Tversion clunks every fid.
      await c.version();
      expect(server.fidCount).toBe(0);
      expect(await c.errno(P9.Tclunk, [['u32', 0]])).toBe(E.ENOENT);
    });

    it('attaches and walks, "..", partial walks and errors', async () => {
      await c.walk(0, 1, []);
      await c.call(P9.Tmkdir, [
        ['u32', 1],
        ['s', 'a'],
        ['u32', 0o755],
        ['u32', 0],
      ]);
      const [a] = await c.walk(0, 2, ['a']);
      expect(a!.type).toBe(QTDIR);
      await c.call(P9.Tmkdir, [
        ['u32', 2],
        ['s', 'b'],
        ['u32', 0o755],
        ['u32', 0],
      ]);
      const qids = await c.walk(0, 3, ['a', 'b', '..', '.']);
      expect(qids.map((q) => q.path)).toEqual([a!.path, qids[1]!.path, a!.path, a!.path]);
      // '..' at the root stays at the root.
      const root = (await c.getattr(0)).qid;
      const up = await c.walk(0, 4, ['..', '..', 'a']);
      expect(up.map((q) => q.path)).toEqual([root.path, root.path, a!.path]);
      // A walk that fails past its first name is short and makes no fid.
      expect((await c.walk(0, 5, ['a', 'missing', 'x'])).length).toBe(1);
      expect(await c.errno(P9.Tclunk, [['u32', 5]])).toBe(E.ENOENT);
      expect(
        await c.errno(P9.Twalk, [
          ['u32', 0],
          ['u32', 5],
          ['u16', 1],
          ['s', 'missing'],
        ]),
      ).toBe(E.ENOENT);
      for (const bad of ['x/y', 'x\0y', '']) {
        expect(
          await c.errno(P9.Twalk, [
            ['u32', 0],
            ['u32', 5],
            ['u16', 1],
            ['s', bad],
          ]),
        ).toBe(E.ENOENT);
      }
      expect(
        await c.errno(P9.Twalk, [
          ['u32', 0],
          ['u32', 5],
          ['u16', 1],
          ['s', 'n'.repeat(256)],
        ]),
      ).toBe(E.ENAMETOOLONG);
      const seventeen: Field[] = Array.from({ length: 17 }, (): Field => ['s', 'a']);
      expect(await c.errno(P9.Twalk, [['u32', 0], ['u32', 5], ['u16', 17], ...seventeen])).toBe(E.EINVAL);
      expect(
        await c.errno(P9.Twalk, [
          ['u32', 99],
          ['u32', 5],
          ['u16', 0],
        ]),
      ).toBe(E.ENOENT);
      expect(
        await c.errno(P9.Twalk, [
          ['u32', 0],
          ['u32', 2],
          ['u16', 0],
        ]),
      ).toBe(E.EINVAL);
      expect(
        await c.errno(P9.Tattach, [
          ['u32', 2],
          ['u32', 0xffff_ffff],
          ['s', ''],
          ['s', ''],
          ['u32', 0],
        ]),
      ).toBe(E.EINVAL);
      // Through a file: the walk stops at the file; from the file itself, ENOTDIR.
      await createFile(6, 'f', 'x');
      expect((await c.walk(0, 7, ['f', 'g'])).length).toBe(1);
      expect(
        await c.errno(P9.Twalk, [
          ['u32', 6],
          ['u32', 7],
          ['u16', 1],
          ['s', 'g'],
        ]),
      ).toBe(E.ENOTDIR);
    });

    it('creates, writes, reads, appends and truncates', async () => {
      await c.walk(0, 1, []);
      const q = await c.lcreate(1, 'hello', O_RDWR | O_CREAT | O_EXCL, 0o640);
      expect(q.type).toBe(QTFILE);
      expect(await c.write(1, 0, text('hello world'))).toBe(11);
      expect(str(await c.read(1, 6, 100))).toBe('world');
      expect(str(await c.read(1, 100, 10))).toBe('');
      const attr = await c.getattr(1);
      expect(attr.size).toBe(11n);
      expect(attr.mode).toBe(0o100640);
      expect(attr.qid.path).toBe(q.path);
      await c.clunk(1);
      // O_EXCL on an existing name: EEXIST; without it, the file opens (and O_TRUNC empties it).
      await c.walk(0, 1, []);
      expect(
        await c.errno(P9.Tlcreate, [
          ['u32', 1],
          ['s', 'hello'],
          ['u32', O_RDWR | O_CREAT | O_EXCL],
          ['u32', 0o644],
          ['u32', 0],
        ]),
      ).toBe(E.EEXIST);
      await c.walk(0, 2, ['hello']);
      await c.lopen(2, O_WRONLY | O_APPEND);
      await c.write(2, 0, text('!'));
      await c.walk(0, 3, ['hello']);
      await c.lopen(3, O_RDONLY);
      expect(str(await c.read(3, 0, 100))).toBe('hello world!');
      // Reads on a fid open for writing only, and writes on one open for reading: EBADF.
      expect(
        await c.errno(P9.Tread, [
          ['u32', 2],
          ['u64', 0n],
          ['u32', 10],
        ]),
      ).toBe(E.EBADF);
      expect(
        await c.errno(P9.Twrite, [
          ['u32', 3],
          ['u64', 0n],
          ['u32', 1],
          ['data', text('x')],
        ]),
      ).toBe(E.EBADF);
      await c.lcreate(1, 'hello', O_RDWR | O_CREAT | O_TRUNC);
      expect((await c.getattr(3)).size).toBe(0n);
      // An unopened fid neither reads nor writes; an open fid is not opened again.
      await c.walk(0, 4, ['hello']);
      expect(
        await c.errno(P9.Tread, [
          ['u32', 4],
          ['u64', 0n],
          ['u32', 10],
        ]),
      ).toBe(E.EBADF);
      expect(
        await c.errno(P9.Tlopen, [
          ['u32', 3],
          ['u32', O_RDONLY],
        ]),
      ).toBe(E.EINVAL);
      // Creating '.' or '..': EEXIST; a name with '/': ENOENT.
      await c.walk(0, 5, []);
      expect(
        await c.errno(P9.Tlcreate, [
          ['u32', 5],
          ['s', '..'],
          ['u32', O_RDWR],
          ['u32', 0o644],
          ['u32', 0],
        ]),
      ).toBe(E.EEXIST);
      expect(
        await c.errno(P9.Tlcreate, [
          ['u32', 5],
          ['s', 'a/b'],
          ['u32', O_RDWR],
          ['u32', 0o644],
          ['u32', 0],
        ]),
      ).toBe(E.ENOENT);
    });

    it('clamps reads to msize and to the room for the reply', async () => {
      await c.version(8192);
      await c.attach(0);
      await createFile(1, 'big', '');
      for (let at = 0; at < 20000; at += 4000) await c.write(1, at, new Uint8Array(4000).fill(0x78));
      expect((await c.read(1, 0, 0xffff_ffff)).length).toBe(8192 - 11);
      c.replyLimit = 111;
      expect((await c.read(1, 0, 5000)).length).toBe(100);
      // A write larger than msize cannot even arrive whole: EPROTO.
      c.replyLimit = 1 << 20;
      expect(
        await c.errno(P9.Twrite, [
          ['u32', 1],
          ['u64', 0n],
          ['u32', 9000],
          ['data', new Uint8Array(9000)],
        ]),
      ).toBe(E.EPROTO);
    });

    it('lists directories with offsets, across several reads', async () => {
      await c.walk(0, 1, []);
      await c.call(P9.Tmkdir, [
        ['u32', 1],
        ['s', 'dir'],
        ['u32', 0o755],
        ['u32', 0],
      ]);
      const symlink: Field[] = [
        ['u32', 1],
        ['s', 'link'],
        ['s', 'dir'],
        ['u32', 0],
      ];
      if (features.symlinks) await c.call(P9.Tsymlink, symlink);
      else expect(await c.errno(P9.Tsymlink, symlink)).toBe(E.EOPNOTSUPP);
      for (let i = 0; i < 40; i++) {
        await c.walk(0, 2, []);
        await c.lcreate(2, `file-${i}`, O_WRONLY | O_CREAT);
        await c.clunk(2);
      }
      await c.lopen(1, O_RDONLY | O_DIRECTORY);
      const all = await c.readdir(1);
      expect(all.slice(0, 2).map((e) => e.name)).toEqual(['.', '..']);
      expect(all.find((e) => e.name === 'dir')!.type).toBe(DT_DIR);
      if (features.symlinks) {
        expect(all.find((e) => e.name === 'link')!.type).toBe(DT_LNK);
        expect(all.find((e) => e.name === 'link')!.qid.type).toBe(QTSYMLINK);
      } else expect(all.find((e) => e.name === 'link')).toBeUndefined();
      expect(all.find((e) => e.name === 'file-0')!.type).toBe(DT_REG);
      const pieces = await c.readdirAll(1, 100);
      expect(pieces.sort()).toEqual(all.map((e) => e.name).sort());
      expect(pieces.length).toBe(features.symlinks ? 44 : 43);
      // A directory fid that is not open does not list; a file is not a directory.
      await c.walk(0, 3, []);
      expect(
        await c.errno(P9.Treaddir, [
          ['u32', 3],
          ['u64', 0n],
          ['u32', 100],
        ]),
      ).toBe(E.EBADF);
      await c.walk(0, 4, ['file-0']);
      expect(
        await c.errno(P9.Treaddir, [
          ['u32', 4],
          ['u64', 0n],
          ['u32', 100],
        ]),
      ).toBe(E.ENOTDIR);
    });

    it('makes symlinks and hard links, renames and removes', async () => {
      await c.walk(0, 1, []);
      const symlink: Field[] = [
        ['u32', 1],
        ['s', 'abs'],
        ['s', '/etc/passwd'],
        ['u32', 0],
      ];
      if (features.symlinks) {
        expect((await c.call(P9.Tsymlink, symlink)).u8()).toBe(QTSYMLINK);
        await c.walk(0, 2, ['abs']);
        expect((await c.call(P9.Treadlink, [['u32', 2]])).string()).toBe('/etc/passwd');
        // A symlink is never opened: the guest resolves it.
        expect(
          await c.errno(P9.Tlopen, [
            ['u32', 2],
            ['u32', O_RDONLY],
          ]),
        ).toBe(E.ELOOP);
      } else {
        expect(await c.errno(P9.Tsymlink, symlink)).toBe(E.EOPNOTSUPP);
        expect(
          await c.errno(P9.Twalk, [
            ['u32', 0],
            ['u32', 2],
            ['u16', 1],
            ['s', 'abs'],
          ]),
        ).toBe(E.ENOENT);
      }
      await createFile(3, 'f', 'data');
      await c.walk(0, 4, ['f']);
      const link: Field[] = [
        ['u32', 0],
        ['u32', 4],
        ['s', 'g'],
      ];
      if (features.hardLinks) {
        await c.call(P9.Tlink, link);
        expect((await c.getattr(4)).nlink).toBe(2n);
      } else {
        expect(await c.errno(P9.Tlink, link)).toBe(E.EOPNOTSUPP);
        expect((await c.getattr(4)).nlink).toBe(1n);
        // What the link would have made, for the removals below.
        await createFile(9, 'g', 'data');
        await c.clunk(9);
      }
      // Trenameat moves the name; a fid on it follows it.
      await c.call(P9.Trenameat, [
        ['u32', 0],
        ['s', 'f'],
        ['u32', 0],
        ['s', 'h'],
      ]);
      expect(str(await c.read(3, 0, 10))).toBe('data');
      expect(
        await c.errno(P9.Twalk, [
          ['u32', 0],
          ['u32', 5],
          ['u16', 1],
          ['s', 'f'],
        ]),
      ).toBe(E.ENOENT);
      // Trename: the fid's file into a directory under a new name.
      await c.call(P9.Tmkdir, [
        ['u32', 0],
        ['s', 'd'],
        ['u32', 0o700],
        ['u32', 0],
      ]);
      await c.walk(0, 5, ['d']);
      await c.call(P9.Trename, [
        ['u32', 3],
        ['u32', 5],
        ['s', 'moved'],
      ]);
      await c.walk(0, 6, ['d', 'moved']);
      await c.lopen(6, O_RDONLY);
      expect(str(await c.read(6, 0, 10))).toBe('data');
      expect(
        await c.errno(P9.Trenameat, [
          ['u32', 0],
          ['s', '..'],
          ['u32', 0],
          ['s', 'x'],
        ]),
      ).toBe(E.EISDIR);
      // Removing: a non-empty directory, a directory without AT_REMOVEDIR, '.' and '..'.
      expect(
        await c.errno(P9.Tunlinkat, [
          ['u32', 0],
          ['s', 'd'],
          ['u32', AT_REMOVEDIR],
        ]),
      ).toBe(E.ENOTEMPTY);
      expect(
        await c.errno(P9.Tunlinkat, [
          ['u32', 0],
          ['s', 'd'],
          ['u32', 0],
        ]),
      ).toBe(E.EISDIR);
      expect(
        await c.errno(P9.Tunlinkat, [
          ['u32', 0],
          ['s', '.'],
          ['u32', 0],
        ]),
      ).toBe(E.EINVAL);
      expect(
        await c.errno(P9.Tunlinkat, [
          ['u32', 0],
          ['s', '..'],
          ['u32', AT_REMOVEDIR],
        ]),
      ).toBe(E.ENOTEMPTY);
      await c.call(P9.Tunlinkat, [
        ['u32', 5],
        ['s', 'moved'],
        ['u32', 0],
      ]);
      await c.call(P9.Tunlinkat, [
        ['u32', 0],
        ['s', 'd'],
        ['u32', AT_REMOVEDIR],
      ]);
      expect(
        await c.errno(P9.Tunlinkat, [
          ['u32', 0],
          ['s', 'd'],
          ['u32', AT_REMOVEDIR],
        ]),
      ).toBe(E.ENOENT);
      // Tremove clunks the fid even when it fails.
      await c.walk(0, 7, ['g']);
      await c.call(P9.Tremove, [['u32', 7]]);
      expect(await c.errno(P9.Tclunk, [['u32', 7]])).toBe(E.ENOENT);
      await c.walk(0, 8, []);
      expect(await c.errno(P9.Tremove, [['u32', 8]])).toBe(E.EBUSY);
      expect(await c.errno(P9.Tclunk, [['u32', 8]])).toBe(E.ENOENT);
    });

    it('sets modes, sizes and times', async () => {
      await createFile(1, 'f', 'abcdef');
      await c.call(
        P9.Tsetattr,
        setattrFields(1, ATTR_MODE | ATTR_SIZE | ATTR_MTIME | ATTR_MTIME_SET, {
          mode: 0o600,
          size: 3n,
          mtime: 1_000_000_000n,
        }),
      );
      const attr = await c.getattr(1);
      expect(attr.mode & 0o7777).toBe(0o600);
      expect(attr.size).toBe(3n);
      expect(attr.mtimeSec).toBe(1_000_000_000n);
      expect(str(await c.read(1, 0, 10))).toBe('abc');
      // ATIME/MTIME without _SET: now.
      await c.call(P9.Tsetattr, setattrFields(1, ATTR_MTIME, {}));
      expect(Number((await c.getattr(1)).mtimeSec)).toBeGreaterThan(Date.now() / 1000 - 60);
    });

    it('answers statfs, fsync, locks and xattrs as QEMU does without xattrs', async () => {
      const r = await c.call(P9.Tstatfs, [['u32', 0]]);
      expect(r.u32()).toBe(V9FS_MAGIC);
      expect(r.u32()).toBeGreaterThan(0);
      await c.call(P9.Tfsync, [
        ['u32', 0],
        ['u32', 0],
      ]);
      const lock = await c.call(P9.Tlock, [
        ['u32', 0],
        ['u8', 1],
        ['u32', 0],
        ['u64', 0n],
        ['u64', 0n],
        ['u32', 42],
        ['s', 'guest'],
      ]);
      expect(lock.u8()).toBe(0);
      const getlock = await c.call(P9.Tgetlock, [
        ['u32', 0],
        ['u8', 1],
        ['u64', 5n],
        ['u64', 7n],
        ['u32', 42],
        ['s', 'guest'],
      ]);
      expect([getlock.u8(), getlock.u64(), getlock.u64(), getlock.u32(), getlock.string()]).toEqual([
        2,
        5n,
        7n,
        42,
        'guest',
      ]);
      const list = await c.call(P9.Txattrwalk, [
        ['u32', 0],
        ['u32', 9],
        ['s', ''],
      ]);
      expect(list.u64()).toBe(0n);
      expect((await c.read(9, 0, 100)).length).toBe(0);
      await c.clunk(9);
      expect(
        await c.errno(P9.Txattrwalk, [
          ['u32', 0],
          ['u32', 9],
          ['s', 'security.selinux'],
        ]),
      ).toBe(E.ENODATA);
      expect(
        await c.errno(P9.Txattrcreate, [
          ['u32', 0],
          ['s', 'user.x'],
          ['u64', 1n],
          ['u32', 0],
        ]),
      ).toBe(E.EOPNOTSUPP);
      expect(
        await c.errno(P9.Tmknod, [
          ['u32', 0],
          ['s', 'fifo'],
          ['u32', 0o10644],
          ['u32', 0],
          ['u32', 0],
          ['u32', 0],
        ]),
      ).toBe(E.EOPNOTSUPP);
      expect(
        await c.errno(P9.Tauth, [
          ['u32', 1],
          ['s', ''],
          ['s', ''],
          ['u32', 0],
        ]),
      ).toBe(E.EOPNOTSUPP);
    });

    it('answers malformed messages with EPROTO and unknown ones with EOPNOTSUPP', async () => {
      const lerror = async (bytes: Uint8Array) => {
        const { type, r } = await c.raw(bytes);
        expect(type).toBe(P9.Rlerror);
        return r.u32();
      };
      expect(await lerror(new Uint8Array(3))).toBe(E.EPROTO);
      const walk = ScriptedClient.encode(P9.Twalk, 1, [
        ['u32', 0],
        ['u32', 1],
        ['u16', 1],
        ['s', 'abc'],
      ]);
      // Size says more than was sent; a body cut short; a string running past the end.
      const tooLong = walk.slice();
      new DataView(tooLong.buffer).setUint32(0, walk.length + 1, true);
      expect(await lerror(tooLong)).toBe(E.EPROTO);
      const cut = walk.slice(0, walk.length - 2);
      new DataView(cut.buffer).setUint32(0, cut.length, true);
      expect(await lerror(cut)).toBe(E.EPROTO);
      expect(await lerror(ScriptedClient.encode(P9.Tread, 2, [['u32', 0]]))).toBe(E.EPROTO);
      const badUtf8 = ScriptedClient.encode(P9.Twalk, 1, [
        ['u32', 0],
        ['u32', 1],
        ['u16', 1],
        ['u16', 2],
        ['u8', 0xff],
        ['u8', 0xfe],
      ]);
      expect(await lerror(badUtf8)).toBe(E.EPROTO);
      // Bigger than msize.
      expect(
        await lerror(
          ScriptedClient.encode(P9.Twrite, 3, [
            ['u32', 0],
            ['u64', 0n],
            ['u32', 70000],
            ['data', new Uint8Array(70000)],
          ]),
        ),
      ).toBe(E.EPROTO);
      expect(await lerror(ScriptedClient.encode(200, 4, []))).toBe(E.EOPNOTSUPP);
      expect(await lerror(ScriptedClient.encode(P9.Tread + 1, 4, []))).toBe(E.EOPNOTSUPP);
      // The tree is as it was.
      expect(server.fidCount).toBe(1);
    });

    it('keeps fids across saveState/loadState, by path', async () => {
      await createFile(1, 'kept', 'still here');
      await c.walk(0, 2, []);
      await c.lopen(2, O_RDONLY);
      const state = JSON.parse(JSON.stringify(server.saveState())) as ReturnType<NinePServer['saveState']>;
      const restored = new NinePServer(tree);
      restored.loadState(state);
      const c2 = new ScriptedClient(restored);
      expect(str(await c2.read(1, 0, 100))).toBe('still here');
      expect(await c2.write(1, 10, text('!'))).toBe(1);
      expect((await c2.readdirAll(2)).sort()).toEqual(['.', '..', 'kept']);
      expect(restored.msize).toBe(65536);
      restored.reset();
      expect(restored.fidCount).toBe(0);
    });

    it('refuses every change to a read-only tree with EROFS', async () => {
      await createFile(1, 'f', 'x');
      await c.call(P9.Tmkdir, [
        ['u32', 0],
        ['s', 'd'],
        ['u32', 0o755],
        ['u32', 0],
      ]);
      const ro = new ScriptedClient(new NinePServer(readOnlyTree));
      await ro.version();
      await ro.attach(0);
      await ro.walk(0, 1, ['f']);
      expect(
        await ro.errno(P9.Tlopen, [
          ['u32', 1],
          ['u32', O_WRONLY],
        ]),
      ).toBe(E.EROFS);
      expect(
        await ro.errno(P9.Tlopen, [
          ['u32', 1],
          ['u32', O_RDONLY | O_TRUNC],
        ]),
      ).toBe(E.EROFS);
      await ro.lopen(1, O_RDONLY);
      expect(str(await ro.read(1, 0, 10))).toBe('x');
      await ro.walk(0, 2, []);
      expect(
        await ro.errno(P9.Tlcreate, [
          ['u32', 2],
          ['s', 'g'],
          ['u32', O_WRONLY | O_CREAT],
          ['u32', 0o644],
          ['u32', 0],
        ]),
      ).toBe(E.EROFS);
      expect(
        await ro.errno(P9.Tmkdir, [
          ['u32', 0],
          ['s', 'e'],
          ['u32', 0o755],
          ['u32', 0],
        ]),
      ).toBe(E.EROFS);
      expect(
        await ro.errno(P9.Tsymlink, [
          ['u32', 0],
          ['s', 'l'],
          ['s', 'f'],
          ['u32', 0],
        ]),
      ).toBe(E.EROFS);
      expect(
        await ro.errno(P9.Tunlinkat, [
          ['u32', 0],
          ['s', 'f'],
          ['u32', 0],
        ]),
      ).toBe(E.EROFS);
      expect(
        await ro.errno(P9.Trenameat, [
          ['u32', 0],
          ['s', 'f'],
          ['u32', 0],
          ['s', 'g'],
        ]),
      ).toBe(E.EROFS);
      expect(await ro.errno(P9.Tsetattr, setattrFields(1, ATTR_MODE, { mode: 0o777 }))).toBe(E.EROFS);
      expect(
        await ro.errno(P9.Tlink, [
          ['u32', 0],
          ['u32', 1],
          ['s', 'h'],
        ]),
      ).toBe(E.EROFS);
      await ro.walk(0, 3, ['d']);
      expect(await ro.errno(P9.Tremove, [['u32', 3]])).toBe(E.EROFS);
      expect(str(await c.read(1, 0, 10))).toBe('x');
    });
  });
}

/** `tree` read-only, for a backend that cannot open its storage twice (the server checks readOnly first). */
export function readOnlyView(tree: FileTree): FileTree {
  return new Proxy(tree, {
    get(target, key) {
      if (key === 'readOnly') return true;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
