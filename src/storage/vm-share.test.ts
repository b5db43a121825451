/**
 * A VM's folder on the user's disk: the stored setting comes back as saved, a damaged record is
 * forgotten, deleting the VM forgets it, and the permission calls ask the browser only when told to.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// idb-keyval over a Map: IndexedDB itself is the browser's; here we test what we keep in it.
const backing = new Map<string, unknown>();
vi.mock('idb-keyval', () => ({
  createStore: () => 'store',
  get: async (key: string) => structuredClone(backing.get(key)),
  set: async (key: string, value: unknown) => {
    backing.set(key, structuredClone(value));
  },
  del: async (key: string) => {
    backing.delete(key);
  },
}));

const {
  canPickHostFolder,
  clearHostFolder,
  deleteVmShare,
  hostFolderAccess,
  loadHostFolder,
  pickHostFolder,
  saveHostFolder,
} = await import('./vm-share.ts');

type Mode = { mode: 'read' | 'readwrite' };

/** A stand-in for a FileSystemDirectoryHandle: what the setting keeps and the permission calls it makes. */
function fakeHandle(
  name: string,
  permission?: { query: PermissionState; request?: (d: Mode) => Promise<PermissionState> },
) {
  const handle = { kind: 'directory', name } as Record<string, unknown>;
  if (permission) {
    handle.queryPermission = vi.fn(async () => permission.query);
    handle.requestPermission = vi.fn(permission.request ?? (async () => 'granted'));
  }
  return handle as unknown as FileSystemDirectoryHandle & {
    queryPermission?: ReturnType<typeof vi.fn>;
    requestPermission?: ReturnType<typeof vi.fn>;
  };
}

beforeEach(() => {
  backing.clear();
  // The mock stands in for IndexedDB; the module checks that the browser has one.
  vi.stubGlobal('indexedDB', {});
});
afterEach(() => vi.unstubAllGlobals());

describe('the host folder setting', () => {
  it('is absent until saved, then comes back per VM as saved', async () => {
    expect(await loadHostFolder('a')).toBeUndefined();
    await saveHostFolder('a', { handle: fakeHandle('photos'), readOnly: true });
    await saveHostFolder('b', { handle: fakeHandle('work'), readOnly: false });
    const a = await loadHostFolder('a');
    expect(a?.handle.name).toBe('photos');
    expect(a?.readOnly).toBe(true);
    expect((await loadHostFolder('b'))?.readOnly).toBe(false);
  });

  it('is absent where there is no IndexedDB (Node)', async () => {
    await saveHostFolder('a', { handle: fakeHandle('photos'), readOnly: true });
    vi.unstubAllGlobals();
    expect(await loadHostFolder('a')).toBeUndefined();
  });

  it('forgets a record that does not parse, so the VM shares its own folder again', async () => {
    backing.set('a', { handle: 'not a handle', readOnly: true });
    backing.set('b', { handle: { kind: 'file', name: 'x' }, readOnly: false });
    backing.set('c', { handle: { kind: 'directory', name: 'x' } });
    for (const id of ['a', 'b', 'c']) {
      expect(await loadHostFolder(id)).toBeUndefined();
      expect(backing.has(id)).toBe(false);
    }
  });

  it('is cleared by Stop sharing and by deleting the VM', async () => {
    await saveHostFolder('a', { handle: fakeHandle('x'), readOnly: true });
    await saveHostFolder('b', { handle: fakeHandle('y'), readOnly: true });
    await clearHostFolder('a');
    expect(await loadHostFolder('a')).toBeUndefined();
    await deleteVmShare('b');
    expect(await loadHostFolder('b')).toBeUndefined();
  });
});

describe('the browser permission', () => {
  it('is granted where the handle has no permission calls', async () => {
    expect(await hostFolderAccess({ handle: fakeHandle('x'), readOnly: false }, true)).toBe('granted');
  });

  it('is only queried unless asked to ask, in the mode the setting needs', async () => {
    const handle = fakeHandle('x', { query: 'prompt' });
    expect(await hostFolderAccess({ handle, readOnly: true })).toBe('prompt');
    expect(handle.queryPermission).toHaveBeenCalledWith({ mode: 'read' });
    expect(handle.requestPermission).not.toHaveBeenCalled();
  });

  it('asks the user when the grant lapsed, for read or for read and write', async () => {
    const readOnly = fakeHandle('x', { query: 'prompt' });
    expect(await hostFolderAccess({ handle: readOnly, readOnly: true }, true)).toBe('granted');
    expect(readOnly.requestPermission).toHaveBeenCalledWith({ mode: 'read' });
    const writable = fakeHandle('y', { query: 'prompt', request: async () => 'denied' });
    expect(await hostFolderAccess({ handle: writable, readOnly: false }, true)).toBe('denied');
    expect(writable.requestPermission).toHaveBeenCalledWith({ mode: 'readwrite' });
  });

  it('does not ask again when granted or denied', async () => {
    for (const query of ['granted', 'denied'] as const) {
      const handle = fakeHandle('x', { query });
      expect(await hostFolderAccess({ handle, readOnly: false }, true)).toBe(query);
      expect(handle.requestPermission).not.toHaveBeenCalled();
    }
  });

  it('stays "prompt" when the browser will not ask outside a click', async () => {
    const handle = fakeHandle('x', {
      query: 'prompt',
      request: async () => {
        throw new DOMException('User activation is required to request permissions.', 'SecurityError');
      },
    });
    expect(await hostFolderAccess({ handle, readOnly: false }, true)).toBe('prompt');
  });
});

describe('the picker', () => {
  it('is offered only where the browser has showDirectoryPicker', () => {
    expect(canPickHostFolder()).toBe(false);
    vi.stubGlobal('showDirectoryPicker', async () => fakeHandle('x'));
    expect(canPickHostFolder()).toBe(true);
  });

  it('asks for write access unless read-only, and a cancel picks nothing', async () => {
    const picker = vi.fn(async () => fakeHandle('docs'));
    vi.stubGlobal('showDirectoryPicker', picker);
    const picked = await pickHostFolder(false);
    expect(picked?.handle.name).toBe('docs');
    expect(picked?.readOnly).toBe(false);
    expect(picker).toHaveBeenLastCalledWith(expect.objectContaining({ mode: 'readwrite' }));
    expect((await pickHostFolder(true))?.readOnly).toBe(true);
    expect(picker).toHaveBeenLastCalledWith(expect.objectContaining({ mode: 'read' }));

    picker.mockRejectedValueOnce(new DOMException('The user aborted a request.', 'AbortError'));
    expect(await pickHostFolder(true)).toBeUndefined();
    picker.mockRejectedValueOnce(new DOMException('denied', 'SecurityError'));
    await expect(pickHostFolder(true)).rejects.toThrow('denied');
  });
});
