/** The Files panel's "Share a folder from this computer" setting over a stand-in for the browser's storage. */
import { describe, expect, it, vi } from 'vitest';
import { HostFolderSetting, type HostFolderStorage } from './host-folder.ts';
import type { HostFolder } from '../storage/vm-share.ts';

function folder(name: string, readOnly: boolean): HostFolder {
  return { handle: { kind: 'directory', name } as FileSystemDirectoryHandle, readOnly };
}

function storage(initial?: HostFolder, access: PermissionState = 'granted') {
  const stored = new Map<string, HostFolder>(initial ? [['vm', initial]] : []);
  return {
    stored,
    calls: {
      supported: () => true,
      load: vi.fn(async (id: string) => stored.get(id)),
      save: vi.fn(async (id: string, f: HostFolder) => void stored.set(id, f)),
      clear: vi.fn(async (id: string) => void stored.delete(id)),
      pick: vi.fn(async (readOnly: boolean): Promise<HostFolder | undefined> => folder('picked', readOnly)),
      access: vi.fn(async (_f: HostFolder, ask?: boolean): Promise<PermissionState> => (ask ? 'granted' : access)),
      reopen: vi.fn(async () => {}),
    } satisfies HostFolderStorage,
  };
}

describe('HostFolderSetting', () => {
  it("shows the VM's own folder until a folder is picked, then the folder, saved and listed", async () => {
    const { stored, calls } = storage();
    const setting = new HostFolderSetting('vm', calls);
    await setting.load();
    expect(setting.getView().folder).toBeNull();

    await setting.share(true);
    expect(calls.pick).toHaveBeenCalledWith(true);
    expect(stored.get('vm')?.readOnly).toBe(true);
    expect(setting.getView().folder).toEqual({ name: 'picked', readOnly: true });
    expect(setting.getView().access).toBe('granted');
    expect(setting.getView().message).toMatch(/read-only.*next start/);
    expect(calls.reopen).toHaveBeenCalledWith('vm');
  });

  it("says so when the setting cannot be read, and shows the VM's own folder", async () => {
    const { calls } = storage();
    calls.load.mockRejectedValueOnce(new Error('IndexedDB is not available'));
    const setting = new HostFolderSetting('vm', calls);
    await setting.load();
    expect(setting.getView().folder).toBeNull();
    expect(setting.getView().message).toBe('The shared-folder setting could not be read: IndexedDB is not available');
  });

  it('keeps the setting when the user cancels the picker', async () => {
    const { stored, calls } = storage(folder('old', false));
    calls.pick.mockResolvedValueOnce(undefined);
    const setting = new HostFolderSetting('vm', calls);
    await setting.load();
    await setting.share(false);
    expect(calls.save).not.toHaveBeenCalled();
    expect(stored.get('vm')?.handle.name).toBe('old');
    expect(setting.getView().folder).toEqual({ name: 'old', readOnly: false });
  });

  it('says so when the picker fails, and keeps the setting', async () => {
    const { calls } = storage();
    calls.pick.mockRejectedValueOnce(new Error('the folder holds system files'));
    const setting = new HostFolderSetting('vm', calls);
    await setting.load();
    await setting.share(false);
    expect(setting.getView().message).toBe('The folder could not be shared: the folder holds system files');
    expect(setting.getView().folder).toBeNull();
  });

  it('offers Allow access after the grant lapsed, and asks the browser on it', async () => {
    const { calls } = storage(folder('docs', false), 'prompt');
    const setting = new HostFolderSetting('vm', calls);
    await setting.load();
    expect(setting.getView().access).toBe('prompt');
    await setting.allow();
    expect(calls.access).toHaveBeenLastCalledWith(expect.objectContaining({ readOnly: false }), true);
    expect(setting.getView().access).toBe('granted');
    expect(calls.reopen).toHaveBeenCalled();
  });

  it("goes back to the VM's own folder on Stop sharing", async () => {
    const { stored, calls } = storage(folder('docs', true));
    const setting = new HostFolderSetting('vm', calls);
    await setting.load();
    await setting.stop();
    expect(stored.has('vm')).toBe(false);
    expect(setting.getView().folder).toBeNull();
    expect(setting.getView().message).toMatch(/own folder/);
    expect(calls.reopen).toHaveBeenCalledWith('vm');
  });
});
