/** The stored VM library: what was saved comes back, and a damaged record is skipped, not fatal. */
import { beforeEach, describe, expect, it, vi } from 'vitest';

// idb-keyval over a Map: IndexedDB itself is the browser's; here we test what we keep in it.
const backing = new Map<string, unknown>();
vi.mock('idb-keyval', () => ({
  createStore: () => 'store',
  get: async (key: string) => structuredClone(backing.get(key)),
  set: async (key: string, value: unknown) => {
    backing.set(key, structuredClone(value));
  },
}));

const { loadDefinitions, saveDefinitions } = await import('./vm-store.ts');

beforeEach(() => backing.clear());

describe('VM definitions', () => {
  it('are empty before anything was saved', async () => {
    expect(await loadDefinitions()).toEqual([]);
  });

  it('come back as saved, in order', async () => {
    const vms = [
      { id: 'a', name: 'alpha', image: 'default', ramMiB: 64, createdAt: 1, mac: '52:54:00:00:00:01' },
      { id: 'b', name: 'beta', image: 'default', ramMiB: 256, createdAt: 2, mac: '52:54:00:00:00:02', network: false },
    ];
    await saveDefinitions(vms);
    expect(await loadDefinitions()).toEqual(vms);
  });

  it('skip records that do not parse and keep the rest', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    backing.set('vms-v1', [
      { id: 'a', name: 'alpha', image: 'default', ramMiB: 64, createdAt: 1 },
      { id: 'b', name: '', image: 'default', ramMiB: 64, createdAt: 2 },
      { id: 'c', name: 'gamma', image: 'default', ramMiB: -5, createdAt: 3 },
      'garbage',
    ]);
    expect((await loadDefinitions()).map((vm) => vm.name)).toEqual(['alpha']);
  });

  it('give a record stored before VMs had a network card an address, and refuse a bad one', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    backing.set('vms-v1', [
      { id: 'a', name: 'alpha', image: 'default', ramMiB: 64, createdAt: 1 },
      { id: 'b', name: 'beta', image: 'default', ramMiB: 64, createdAt: 2, mac: 'not a mac' },
    ]);
    const loaded = await loadDefinitions();
    expect(loaded.map((vm) => vm.name)).toEqual(['alpha']);
    expect(loaded[0]!.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
  });

  it('keep the network setting, refusing a value that is not a boolean', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    backing.set('vms-v1', [
      { id: 'a', name: 'alpha', image: 'default', ramMiB: 64, createdAt: 1, network: false },
      { id: 'b', name: 'beta', image: 'default', ramMiB: 64, createdAt: 2, network: 'off' },
    ]);
    const loaded = await loadDefinitions();
    expect(loaded.map((vm) => [vm.name, vm.network])).toEqual([['alpha', false]]);
  });

  it('treat a stored value that is not a list as an empty library', async () => {
    backing.set('vms-v1', { not: 'a list' });
    expect(await loadDefinitions()).toEqual([]);
  });
});
