import { describe, expect, it } from 'vitest';
import { PANIC_GRACE_MS, PanicWatch } from './panic-watch.ts';

function watch() {
  const seen: number[] = [];
  let now = 1000;
  const w = new PanicWatch({ write: (byte) => seen.push(byte) }, () => now);
  const print = (text: string) => {
    for (const c of text) w.write(c.charCodeAt(0));
  };
  return {
    w,
    print,
    seen: () => String.fromCharCode(...seen),
    advance: (ms: number) => (now += ms),
  };
}

// What Linux 6.1 printed under tabvm for `rdinit=/nonexistent` (the stack dump shortened).
const PANIC_LOG = [
  '[    0.912345] VFS: Cannot open root device "(null)" or unknown-block(0,0): error -6\r\n',
  '[    0.913000] Please append a correct "root=" boot option; here are the available partitions:\r\n',
  '[    0.914000] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n',
  '[    0.915000] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.192 #1\r\n',
  '[    0.916000] Call Trace:\r\n',
  '[    0.917000] [<ffffffff80005a1e>] dump_backtrace+0x1c/0x24\r\n',
  '[    0.918000] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---\r\n',
].join('');

describe('PanicWatch', () => {
  it('passes every byte on to the console it wraps', () => {
    const t = watch();
    t.print(PANIC_LOG);
    expect(t.seen()).toBe(PANIC_LOG);
  });

  it('takes the panic line as the reason and settles at the end marker', () => {
    const t = watch();
    t.print(PANIC_LOG.slice(0, PANIC_LOG.indexOf('[    0.915')));
    expect(t.w.panic).toBe('Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
    expect(t.w.settled).toBe(false);
    t.print(PANIC_LOG.slice(PANIC_LOG.indexOf('[    0.915')));
    expect(t.w.settled).toBe(true);
  });

  it('waits for the whole panic line', () => {
    const t = watch();
    t.print('Kernel panic - not syncing: Attempted to kill in');
    expect(t.w.panic).toBeUndefined();
    t.print('it! exitcode=0x00000100\n');
    expect(t.w.panic).toBe('Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100');
  });

  it('settles PANIC_GRACE_MS after the panic line when no end marker comes', () => {
    const t = watch();
    t.print('Kernel panic - not syncing: Fatal exception\r\n');
    t.advance(PANIC_GRACE_MS - 1);
    expect(t.w.settled).toBe(false);
    t.advance(1);
    expect(t.w.settled).toBe(true);
  });

  it('ignores the words in the middle of a line, as in a command typed at a prompt', () => {
    const t = watch();
    t.print('root@tabvm:~# echo "Kernel panic - not syncing: no"\r\n');
    t.print('---[ end Kernel panic - not syncing: no ]---\r\n');
    t.advance(PANIC_GRACE_MS);
    expect(t.w.panic).toBeUndefined();
    expect(t.w.settled).toBe(false);
  });

  it('keeps the first panic when a second one follows', () => {
    const t = watch();
    t.print('Kernel panic - not syncing: first\nKernel panic - not syncing: second\n');
    expect(t.w.panic).toBe('Kernel panic - not syncing: first');
  });
});
