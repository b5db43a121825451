import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as Storage from '../storage/vm-share.ts';
import type { HostFolder } from '../storage/vm-share.ts';

// The stored folder setting and the browser's permission, per test; everything else as it is.
const host = vi.hoisted(() => ({
  folder: undefined as HostFolder | Error | undefined,
  access: 'granted' as PermissionState,
  asked: [] as boolean[],
}));
vi.mock('../storage/vm-share.ts', async (importActual) => ({
  ...(await importActual<typeof Storage>()),
  loadHostFolder: async () => {
    if (host.folder instanceof Error) throw host.folder;
    return host.folder;
  },
  hostFolderAccess: async (_folder: HostFolder, ask = false) => {
    host.asked.push(ask);
    return host.access;
  },
}));

const { SharedFileError, sharePath, VmShare } = await import('./vm-share.ts');

afterEach(() => {
  host.folder = undefined;
  host.access = 'granted';
  host.asked = [];
});

describe('sharePath', () => {
  it('gives the names of a path inside the shared folder', () => {
    expect(sharePath('poem.txt')).toEqual(['poem.txt']);
    expect(sharePath('out/deep/count.txt')).toEqual(['out', 'deep', 'count.txt']);
    expect(sharePath('dir/')).toEqual(['dir']);
    expect(sharePath('')).toEqual([]);
    expect(sharePath('.')).toEqual([]);
  });

  it('refuses every path that could leave the folder, in one sentence', () => {
    for (const path of ['..', '../x', 'a/../../x', 'a/./b', 'a//b', '/etc/passwd', '/mnt/shared/x', 'a\0b']) {
      expect(() => sharePath(path), path).toThrow(SharedFileError);
    }
    expect(() => sharePath('/etc/passwd')).toThrow(/"\/etc\/passwd" is absolute: give a path inside the shared folder/);
    expect(() => sharePath('a/../../x')).toThrow('"a/../../x" must name a place inside the shared folder');
  });
});

describe('VmShare without an OPFS (Node, or a page without a secure context)', () => {
  it("boots with /mnt/shared in the VM's memory, says so, and refuses the page's file calls", async () => {
    const notes: string[] = [];
    const share = new VmShare('vm-1', (text) => notes.push(text));
    expect(await share.requests()).toEqual([{ tag: 'shared', source: { kind: 'memory' } }]);
    expect(notes).toEqual([
      "this page has no Origin Private File System, so it cannot reach the shared folder: /mnt/shared is a folder in the VM's memory for this run",
    ]);
    await expect(share.readFile('poem.txt')).rejects.toThrow(SharedFileError);
    await expect(share.writeFile('poem.txt', 'x')).rejects.toThrow('no Origin Private File System');
  });
});

describe('VmShare with a folder from this computer', () => {
  const handle = { kind: 'directory', name: 'photos' } as FileSystemDirectoryHandle;

  it('boots with that folder as tag "shared", read-only if so set, asking the browser (Start is a click)', async () => {
    host.folder = { handle, readOnly: true };
    const notes: string[] = [];
    const share = new VmShare('vm-1', (text) => notes.push(text));
    expect(await share.requests()).toEqual([{ tag: 'shared', source: { kind: 'handle', handle }, readOnly: true }]);
    expect(host.asked).toEqual([true]);
    expect(notes).toEqual([]);
  });

  it('boots with an empty folder in memory, and says what to do, when the browser did not allow it', async () => {
    host.folder = { handle, readOnly: false };
    host.access = 'prompt';
    const notes: string[] = [];
    const share = new VmShare('vm-1', (text) => notes.push(text));
    expect(await share.requests()).toEqual([{ tag: 'shared', source: { kind: 'memory' }, readOnly: false }]);
    expect(notes).toEqual([
      'the browser has not allowed access to the folder "photos" on this computer (press Allow access in the Files panel, then restart the VM): /mnt/shared is an empty folder in the VM\'s memory for this run',
    ]);
  });

  it('is not looked for without a library id (an embedded VM)', async () => {
    host.folder = { handle, readOnly: true };
    const embedded = new VmShare(undefined, () => {});
    expect(await embedded.requests()).toEqual([{ tag: 'shared', source: { kind: 'memory' } }]);
    expect(host.asked).toEqual([]);
  });

  it("shares the VM's own folder, and says so, when the setting cannot be read", async () => {
    host.folder = new Error('IndexedDB is broken');
    const notes: string[] = [];
    const share = new VmShare('vm-1', (text) => notes.push(text));
    expect(await share.requests()).toEqual([{ tag: 'shared', source: { kind: 'memory' } }]);
    expect(notes[0]).toBe(
      "the VM's shared-folder setting could not be read (IndexedDB is broken): /mnt/shared is the VM's own folder for this run",
    );
  });
});
