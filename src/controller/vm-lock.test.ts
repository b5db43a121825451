/**
 * One tab per VM with a stand-in for the browser's lock manager shared by two "tabs": the second cannot
 * claim a VM the first runs and sees it as elsewhere, until the first lets it go; a claim that waits
 * gets it once it is let go; without Web Locks every claim succeeds.
 */
import { describe, expect, it } from 'vitest';
import { VmLocks, type LockApi } from './vm-lock.ts';
import { lockManager } from './test-support/lock-manager.ts';

/** A BroadcastChannel between the two tabs of a test (each test its own name). */
let channels = 0;
const pair = (api: LockApi): [VmLocks, VmLocks] => {
  const name = `test-locks-${++channels}`;
  return [new VmLocks(api, new BroadcastChannel(name)), new VmLocks(api, new BroadcastChannel(name))];
};

describe('VM locks', () => {
  it('lets one tab run a VM; the other sees it elsewhere and can claim it once it is let go', async () => {
    const [first, second] = pair(lockManager());
    expect(await first.claim('vm-1')).toBe(true);
    expect(await first.claim('vm-1')).toBe(true);
    expect(first.holds('vm-1')).toBe(true);
    expect(await second.claim('vm-1')).toBe(false);
    expect(second.getSnapshot().elsewhere.has('vm-1')).toBe(true);
    expect(first.getSnapshot().elsewhere.has('vm-1')).toBe(false);
    // Another VM is free.
    expect(await second.claim('vm-2')).toBe(true);

    first.release('vm-1');
    // The notice on the channel makes the other tab look again.
    for (let i = 0; i < 100 && second.getSnapshot().elsewhere.has('vm-1'); i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(second.getSnapshot().elsewhere.has('vm-1')).toBe(false);
    expect(await second.claim('vm-1')).toBe(true);
    for (let i = 0; i < 100 && !first.getSnapshot().elsewhere.has('vm-1'); i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(first.getSnapshot().elsewhere).toEqual(new Set(['vm-1', 'vm-2']));
    second.release('vm-1');
    second.release('vm-2');
  });

  it('waits for a lock when asked to, and gives up after the wait', async () => {
    const [first, second] = pair(lockManager());
    await first.claim('vm-1');
    expect(await second.claim('vm-1', 30)).toBe(false);
    const waited = second.claim('vm-1', 5000);
    setTimeout(() => first.release('vm-1'), 20);
    expect(await waited).toBe(true);
    second.release('vm-1');
  });

  it('shares a claim under way with a second claim of the same VM in the tab (a move here while a resume waits)', async () => {
    const [first, second] = pair(lockManager());
    await first.claim('vm-1');
    const waiting = second.claim('vm-1', 5000);
    const moving = second.claim('vm-1');
    setTimeout(() => first.release('vm-1'), 20);
    expect(await moving).toBe(true);
    expect(await waiting).toBe(true);
    expect(second.holds('vm-1')).toBe(true);
    second.release('vm-1');
    // The lock is free again: a later claim in another tab gets it, so the two claims took it once.
    expect(await first.claim('vm-1', 1000)).toBe(true);
    first.release('vm-1');
  });

  it('without Web Locks every claim succeeds and nothing is elsewhere', async () => {
    const [first, second] = [new VmLocks(undefined), new VmLocks(undefined)];
    expect(first.supported).toBe(false);
    expect(await first.claim('vm-1')).toBe(true);
    expect(await second.claim('vm-1')).toBe(true);
    await second.refresh();
    expect(second.getSnapshot().elsewhere.size).toBe(0);
  });
});
