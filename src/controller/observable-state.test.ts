/** The state React reads through useSyncExternalStore: a new object per change, listeners told, unsubscribing works. */
import { describe, expect, it } from 'vitest';
import { ObservableState } from './observable-state.ts';

describe('ObservableState', () => {
  it('gives a new object per change and tells the listeners subscribed at the time', () => {
    const state = new ObservableState({ a: 1, b: 'x' });
    const first = state.get();
    const seen: number[] = [];
    const unsubscribe = state.subscribe(() => seen.push(state.get().a));
    state.update({ a: 2 });
    expect(state.get()).toEqual({ a: 2, b: 'x' });
    expect(state.get()).not.toBe(first);
    expect(first).toEqual({ a: 1, b: 'x' });
    state.set({ a: 3, b: 'y' });
    unsubscribe();
    state.update({ a: 4 });
    expect(seen).toEqual([2, 3]);
  });

  it('forgets every listener on clear(); the bound methods work detached, as React calls them', () => {
    const state = new ObservableState({ n: 0 });
    const { subscribe, get } = state;
    let calls = 0;
    subscribe(() => calls++);
    state.update({ n: 1 });
    state.clear();
    state.update({ n: 2 });
    expect(calls).toBe(1);
    expect(get().n).toBe(2);
  });
});
