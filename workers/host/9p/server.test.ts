import { describe, expect, it } from 'vitest';
import { MemoryTree } from './memory-tree.ts';
import { NinePServer } from './server.ts';
import { E, O_RDONLY, O_RDWR, O_CREAT, P9 } from './protocol.ts';
import { ScriptedClient } from './test-support/client.ts';
import { readOnlyView, serverSuite } from './test-support/server-suite.ts';
import type { FileTree } from './file-tree.ts';

serverSuite('the in-memory tree', () => {
  const tree = new MemoryTree();
  return { tree, readOnly: readOnlyView(tree) };
});

describe('9p server', () => {
  it('answers Tflush only after the request it flushes', async () => {
    const tree = new MemoryTree();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: FileTree = new Proxy(tree, {
      get(target, key) {
        const value = Reflect.get(target, key) as unknown;
        if (key === 'read') return async (...args: Parameters<FileTree['read']>) => (await gate, tree.read(...args));
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const server = new NinePServer(slow);
    const c = new ScriptedClient(server);
    await c.version();
    await c.attach(0);
    await c.walk(0, 1, []);
    await c.lcreate(1, 'f', O_RDWR | O_CREAT);
    const order: string[] = [];
    const read = server
      .handle(
        ScriptedClient.encode(P9.Tread, 7, [
          ['u32', 1],
          ['u64', 0n],
          ['u32', 10],
        ]),
        4096,
      )
      .then(() => order.push('Rread'));
    // A second request with the tag in use is refused.
    const reused = await c.raw(ScriptedClient.encode(P9.Tclunk, 7, [['u32', 1]]));
    expect([reused.type, reused.r.u32()]).toEqual([P9.Rlerror, E.EPROTO]);
    const flush = server.handle(ScriptedClient.encode(P9.Tflush, 8, [['u16', 7]]), 4096).then((reply) => {
      order.push('Rflush');
      return reply[4];
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    release();
    expect(await flush).toBe(P9.Tflush + 1);
    await read;
    expect(order).toEqual(['Rread', 'Rflush']);
  });

  it('bounds the fid table', async () => {
    const c = new ScriptedClient(new NinePServer(new MemoryTree()));
    await c.version();
    await c.attach(0);
    for (let fid = 1; fid < 65536; fid++) await c.walk(0, fid, []);
    expect(
      await c.errno(P9.Twalk, [
        ['u32', 0],
        ['u32', 70000],
        ['u16', 0],
      ]),
    ).toBe(23);
    await c.clunk(5);
    await c.walk(0, 70000, []);
    await c.lopen(70000, O_RDONLY);
  });

  it('gives ENOSPC when the memory tree is full and keeps what it held', async () => {
    const c = new ScriptedClient(new NinePServer(new MemoryTree({ maxBytes: 10000 })));
    await c.version();
    await c.attach(0);
    await c.walk(0, 1, []);
    await c.lcreate(1, 'f', O_RDWR | O_CREAT);
    await c.write(1, 0, new Uint8Array(6000).fill(1));
    expect(
      await c.errno(P9.Twrite, [
        ['u32', 1],
        ['u64', 6000n],
        ['u32', 5000],
        ['data', new Uint8Array(5000)],
      ]),
    ).toBe(E.ENOSPC);
    expect((await c.read(1, 0, 8000)).length).toBe(6000);
  });
});
