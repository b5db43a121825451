/**
 * A VM's "Share a folder from this computer" setting as the Files panel shows and changes it: the folder
 * on the user's disk the VM shares as `shared` (/mnt/shared) in place of its own folder, read-only or
 * not, and whether the browser still lets the page use it. The VM reads the setting when it starts
 * (src/controller/vm-share.ts), so a change reaches a running guest at its next start; the panel lists
 * the new folder at once. docs/shared-folders.md, "A folder on the user's disk".
 */
import { ObservableState } from '../controller/observable-state.ts';
import {
  canPickHostFolder,
  clearHostFolder,
  hostFolderAccess,
  loadHostFolder,
  pickHostFolder,
  saveHostFolder,
  type HostFolder,
} from '../storage/vm-share.ts';
import { reopenShare } from './files.ts';

export interface HostFolderView {
  /** Whether this browser can share a folder of the user's disk at all. */
  readonly supported: boolean;
  /** The folder shared instead of the VM's own, or null (the VM's own folder); undefined until read. */
  readonly folder: { readonly name: string; readonly readOnly: boolean } | null | undefined;
  /** 'prompt': the browser's grant lapsed (a reload) and the user must allow access again. */
  readonly access: PermissionState | undefined;
  /** What the last change did, or why it failed. */
  readonly message: string | null;
}

/** The storage calls the setting uses; tests give their own. */
export interface HostFolderStorage {
  readonly supported: () => boolean;
  readonly load: (vmId: string) => Promise<HostFolder | undefined>;
  readonly save: (vmId: string, folder: HostFolder) => Promise<void>;
  readonly clear: (vmId: string) => Promise<void>;
  readonly pick: (readOnly: boolean) => Promise<HostFolder | undefined>;
  readonly access: (folder: HostFolder, ask?: boolean) => Promise<PermissionState>;
  /** The page's view of the share changed: list it again. */
  readonly reopen: (vmId: string) => Promise<void>;
}

const browserStorage: HostFolderStorage = {
  supported: canPickHostFolder,
  load: loadHostFolder,
  save: saveHostFolder,
  clear: clearHostFolder,
  pick: pickHostFolder,
  access: hostFolderAccess,
  reopen: reopenShare,
};

const NEXT_START = 'The VM sees the change from its next start.';

export class HostFolderSetting {
  readonly #vmId: string;
  readonly #storage: HostFolderStorage;
  readonly #state: ObservableState<HostFolderView>;
  #folder: HostFolder | undefined;

  constructor(vmId: string, storage: HostFolderStorage = browserStorage) {
    this.#vmId = vmId;
    this.#storage = storage;
    this.#state = new ObservableState<HostFolderView>({
      supported: storage.supported(),
      folder: undefined,
      access: undefined,
      message: null,
    });
  }

  readonly subscribe = (listener: () => void) => this.#state.subscribe(listener);
  readonly getView = () => this.#state.get();

  /** Reads the stored setting and the browser's grant. */
  async load(): Promise<void> {
    try {
      await this.#show(await this.#storage.load(this.#vmId), null);
    } catch (error) {
      this.#state.update({
        folder: null,
        message: `The shared-folder setting could not be read: ${(error as Error).message ?? String(error)}`,
      });
    }
  }

  async #show(folder: HostFolder | undefined, message: string | null): Promise<void> {
    this.#folder = folder;
    this.#state.update({
      folder: folder ? { name: folder.handle.name, readOnly: folder.readOnly } : null,
      access: folder ? await this.#storage.access(folder) : undefined,
      message,
    });
  }

  /** Asks the user for a folder (call it from a click) and shares it from the VM's next start. */
  async share(readOnly: boolean): Promise<void> {
    try {
      const folder = await this.#storage.pick(readOnly);
      if (!folder) return;
      await this.#storage.save(this.#vmId, folder);
      await this.#show(
        folder,
        `/mnt/shared is now “${folder.handle.name}” from this computer${readOnly ? ', read-only' : ''}. ${NEXT_START}`,
      );
    } catch (error) {
      this.#state.update({ message: `The folder could not be shared: ${(error as Error).message ?? String(error)}` });
    }
    await this.#storage.reopen(this.#vmId);
  }

  /** Asks the browser to allow the folder again (call it from a click). */
  async allow(): Promise<void> {
    if (!this.#folder) return;
    const access = await this.#storage.access(this.#folder, true).catch(() => 'denied' as const);
    this.#state.update({
      access,
      message: access === 'granted' ? null : 'The browser did not allow access to the folder.',
    });
    await this.#storage.reopen(this.#vmId);
  }

  /** Shares the VM's own folder again; the folder on the disk is left as it is. */
  async stop(): Promise<void> {
    await this.#storage.clear(this.#vmId);
    await this.#show(undefined, `/mnt/shared is the VM’s own folder in this browser again. ${NEXT_START}`);
    await this.#storage.reopen(this.#vmId);
  }
}

const settings = new Map<string, HostFolderSetting>();

/** The setting of a VM, one per VM for the page's life. */
export function hostFolderSettingFor(vmId: string): HostFolderSetting {
  let setting = settings.get(vmId);
  if (!setting) {
    setting = new HostFolderSetting(vmId);
    settings.set(vmId, setting);
    void setting.load();
  }
  return setting;
}
