// The stuck-hart watch of a VM with harts in workers (hart-threads.ts): a hart whose slice counter stays
// odd (inside one slice) for HART_STUCK_MS of the device host's looks is reported; a hart between slices
// (asleep in WFI, parked) or one that moves on is not; and a look that comes late, because the device
// host's thread did not run either, counts as two intervals only.
import { describe, expect, it } from 'vitest';
import { createVmMemory } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import { HART_STUCK_MS, HART_WATCH_INTERVAL_MS, HartWatch } from './hart-threads.ts';

function watched(harts: number) {
  const memory = createVmMemory(1 << 20, true);
  const slices = new Int32Array(memory.buffer, L.SHARED_BLOCK + L.HART_SLICES, harts);
  let now = 0;
  const watch = new HartWatch(memory, harts, () => now);
  /** Looks after `ms`; returns what the watch says. */
  const lookAfter = (ms: number) => {
    now += ms;
    return watch.look();
  };
  return { slices, lookAfter };
}

const LOOKS_TO_STUCK = HART_STUCK_MS / HART_WATCH_INTERVAL_MS;

describe('HartWatch', () => {
  it('reports the hart that stays inside one slice for HART_STUCK_MS, and no other', () => {
    const { slices, lookAfter } = watched(3);
    slices[0] = 2; // between slices: asleep in WFI, or parked
    slices[2] = 7; // inside a slice
    expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBeUndefined();
    for (let i = 1; i < LOOKS_TO_STUCK; i++) {
      slices[1]! += 2; // runs slice after slice
      expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBeUndefined();
    }
    expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBe(2);
  });

  it('starts counting again when the hart ends its slice', () => {
    const { slices, lookAfter } = watched(2);
    slices[1] = 1;
    for (let i = 0; i < LOOKS_TO_STUCK - 1; i++) expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBeUndefined();
    slices[1] = 3; // the slice ended and the next began
    for (let i = 0; i < LOOKS_TO_STUCK; i++) expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBeUndefined();
    expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBe(1);
  });

  it('counts a late look (a suspended or starved host) as two intervals, and still catches the hart later', () => {
    const { slices, lookAfter } = watched(1);
    slices[0] = 1;
    expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBeUndefined();
    // The device host's thread itself did not run for twice the watch's time.
    expect(lookAfter(2 * HART_STUCK_MS)).toBeUndefined();
    for (let i = 2; i < LOOKS_TO_STUCK - 1; i++) expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBeUndefined();
    expect(lookAfter(HART_WATCH_INTERVAL_MS)).toBe(0);
  });
});
