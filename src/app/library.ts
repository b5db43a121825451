/**
 * The VM library: the persisted definitions (src/storage) joined to one VmController each. React reads
 * it through useSyncExternalStore; every change makes a new snapshot object.
 *
 * Deleting a VM removes its definition first (marked as being deleted, src/storage/vm-store.ts), then its
 * data: disk overlay, own image files, and what others registered with onDelete (its snapshots). A
 * deletion that fails or that a closed tab cuts short is finished at the next load(). Disk overlays and
 * own image files of VMs that are not stored at all (left by an older tabvm's deletion) are removed then too.
 */
import { VmController, type VmControllerOptions } from '../controller/vm-controller.ts';
import { ObservableState } from '../controller/observable-state.ts';
import {
  beginDeletion,
  finishDeletion,
  loadDefinitionIds,
  loadDefinitions,
  loadDeleting,
  saveDefinitions,
  type VmDefinition,
} from '../storage/vm-store.ts';
import { deleteOverlay, listOverlayVmIds } from '../storage/disk-overlay.ts';
import { deleteVmShare, listVmShareIds } from '../storage/vm-share.ts';
import { copyCustomImage, deleteCustomImage, listCustomImageVmIds, saveCustomImage } from '../storage/custom-images.ts';
import type { CustomImageFiles } from '../controller/custom-image.ts';
import { randomMacAddress } from '../../workers/protocol/mac-address.ts';
import { debianMirror, pageNetworkCard, trustPageCa } from '../controller/page-network.ts';

export interface VmEntry {
  readonly definition: VmDefinition;
  readonly controller: VmController;
}

/** What Settings… changes of a VM. */
export interface VmSettings {
  readonly name: string;
  readonly ramMiB: number;
  readonly cpus: number;
  /** Whether the VM has a network card (absent: as it was). */
  readonly network?: boolean;
}

export interface LibrarySnapshot {
  readonly loaded: boolean;
  readonly loadError?: string;
  readonly entries: readonly VmEntry[];
}

export class Library {
  /** Shared memory + SAB rings, or the message fallback: decided once for the page. */
  readonly shared: boolean;
  readonly #state = new ObservableState<LibrarySnapshot>({ loaded: false, entries: [] });

  /** What else is stored per VM and goes with it (the snapshot shelf registers its snapshots). */
  readonly #deleters: ((vmId: string) => Promise<void>)[] = [];
  #changes: Promise<unknown> = Promise.resolve();

  constructor(shared: boolean) {
    this.shared = shared;
  }

  /** `deleteData` removes what the caller stores for a VM; it runs for each deleted VM, again if interrupted. */
  onDelete(deleteData: (vmId: string) => Promise<void>): void {
    this.#deleters.push(deleteData);
  }

  readonly subscribe = this.#state.subscribe;
  readonly getSnapshot = this.#state.get;

  get #snapshot(): LibrarySnapshot {
    return this.#state.get();
  }

  #set(snapshot: LibrarySnapshot): void {
    this.#state.set(snapshot);
  }

  #controllerFor(definition: VmDefinition): VmController {
    const controller: VmController = new VmController({
      id: definition.id,
      image: definition.image,
      ramMiB: definition.ramMiB,
      ...(definition.cpus !== undefined ? { cpus: definition.cpus } : {}),
      shared: this.shared,
      net: Library.#card(definition, (line) => controller.note(line)),
    });
    if (definition.network !== false) trustPageCa(controller);
    return controller;
  }

  /** The network card a definition asks for, plugged into the page's network; undefined for none. */
  static #card(definition: VmDefinition, note: (line: string) => void): VmControllerOptions['net'] {
    if (definition.network === false) return undefined;
    const card = pageNetworkCard(note, (base) => [debianMirror(base)]);
    return { mac: definition.mac, onNetwork: card.onNetwork, connectToGuest: (port) => card.connectToGuest(port) };
  }

  #loading: Promise<void> | undefined;

  /**
   * Reads the saved definitions once (React's StrictMode runs effects twice in development), then
   * finishes deletions an earlier page did not; resolves when those are done or have failed again.
   */
  load(): Promise<void> {
    this.#loading ??= this.#load();
    return this.#loading;
  }

  async #load(): Promise<void> {
    try {
      const definitions = await loadDefinitions();
      const entries = definitions.map((definition) => ({ definition, controller: this.#controllerFor(definition) }));
      this.#set({ loaded: true, entries });
    } catch (error) {
      this.#set({
        loaded: true,
        entries: [],
        loadError: `The saved VMs could not be read: ${(error as Error).message}`,
      });
      return;
    }
    try {
      for (const id of await loadDeleting()) await this.#deleteData(id);
      await removeOrphanedDisks();
    } catch (error) {
      console.warn('tabvm: the data of a deleted VM could not be removed yet; the next start tries again', error);
    }
  }

  /** Whether a VM other than `exceptId` has this name (names differ in more than case). */
  isNameTaken(name: string, exceptId?: string): boolean {
    const key = name.trim().toLowerCase();
    return this.#snapshot.entries.some(
      (entry) => entry.definition.id !== exceptId && entry.definition.name.toLowerCase() === key,
    );
  }

  /**
   * Changes a VM's settings (Settings…): its name at any time; its RAM, CPUs and network card only while
   * it is off, since a running machine cannot change them (the next start takes them). Stored first: if
   * that fails, nothing changes and the error is thrown.
   */
  async update(id: string, change: VmSettings): Promise<VmEntry> {
    return this.#serially(async () => {
      const entry = this.#snapshot.entries.find((e) => e.definition.id === id);
      if (!entry) throw new Error('This VM is no longer in the library.');
      const name = change.name.trim();
      if (this.isNameTaken(name, id)) throw new Error(`A VM named “${name}” already exists.`);
      const network = change.network ?? entry.definition.network !== false;
      const machineChanged =
        change.ramMiB !== entry.definition.ramMiB ||
        change.cpus !== (entry.definition.cpus ?? 1) ||
        network !== (entry.definition.network !== false);
      const phase = entry.controller.getView().phase;
      if (machineChanged && phase !== 'stopped' && phase !== 'error') {
        throw new Error(`Power off ${entry.definition.name} to change its RAM, CPUs or network card.`);
      }
      const definition: VmDefinition = {
        ...entry.definition,
        name,
        ramMiB: change.ramMiB,
        cpus: change.cpus,
        network,
      };
      const updated: VmEntry = { definition, controller: entry.controller };
      const entries = this.#snapshot.entries.map((e) => (e === entry ? updated : e));
      await saveDefinitions(entries.map((e) => e.definition));
      if (machineChanged) {
        entry.controller.configure({
          ramMiB: change.ramMiB,
          cpus: change.cpus,
          net: Library.#card(definition, (line) => entry.controller.note(line)),
        });
      }
      this.#set({ ...this.#snapshot, entries });
      return updated;
    });
  }

  /** Adds a VM; `custom` are the user's own files for a VM of the custom image, stored first. */
  /**
   * Adds a VM. For one on its own disk image, `custom` is either the person's files or `{ copyOf }`, the
   * VM whose stored files it shares the contents of (a clone).
   */
  async create(
    fields: Omit<VmDefinition, 'id' | 'createdAt' | 'mac'>,
    custom?: CustomImageFiles<File> | { readonly copyOf: string },
  ): Promise<VmEntry> {
    const definition: VmDefinition = {
      ...fields,
      name: fields.name.trim(),
      id: crypto.randomUUID(),
      createdAt: Date.now(),
      mac: randomMacAddress(),
    };
    const entry = { definition, controller: this.#controllerFor(definition) };
    await this.#serially(async () => {
      const entries = [...this.#snapshot.entries, entry];
      // The definition is stored before the files, so that a start in another tab, which removes the files
      // of VMs not in the library, never takes this VM for a deleted one.
      await saveDefinitions(entries.map((e) => e.definition));
      if (custom) {
        try {
          await ('copyOf' in custom
            ? copyCustomImage(custom.copyOf, definition.id)
            : saveCustomImage(definition.id, custom));
        } catch (error) {
          await saveDefinitions(this.#snapshot.entries.map((e) => e.definition)).catch(() => {});
          throw error;
        }
      }
      this.#set({ ...this.#snapshot, entries });
    });
    return entry;
  }

  /**
   * Deletes a VM: powered off, gone from the library (and from storage, with the mark that it is being
   * deleted), then its data. If the first step fails the VM stays; if a later one does, what is left
   * is removed at the next load().
   */
  async remove(id: string): Promise<void> {
    const removed = await this.#serially(async () => {
      const entry = this.#snapshot.entries.find((e) => e.definition.id === id);
      if (!entry) return undefined;
      const clones = this.linkedClonesOf((linkedTo) => linkedTo.vmId === id);
      if (clones.length > 0) {
        throw new Error(
          `${entry.definition.name} cannot be deleted while its linked clones exist (${clones.join(', ')}): they share its snapshots. Delete them first.`,
        );
      }
      const entries = this.#snapshot.entries.filter((e) => e !== entry);
      try {
        await beginDeletion(
          entries.map((e) => e.definition),
          id,
        );
      } catch (error) {
        throw new Error(`${entry.definition.name} could not be deleted (${message(error)}); nothing was removed.`, {
          cause: error,
        });
      }
      entry.controller.dispose();
      this.#set({ ...this.#snapshot, entries });
      return entry.definition.name;
    });
    if (removed === undefined) return;
    try {
      await this.#deleteData(id);
    } catch (error) {
      throw new Error(
        `${removed} was deleted, but some of its data could not be removed yet (${message(error)}); tabvm removes it the next time it starts.`,
        { cause: error },
      );
    }
  }

  /** The names of the linked clones whose base (`linkedTo`) matches. */
  linkedClonesOf(matches: (linkedTo: NonNullable<VmDefinition['linkedTo']>) => boolean): string[] {
    return this.#snapshot.entries
      .filter((e) => e.definition.linkedTo !== undefined && matches(e.definition.linkedTo))
      .map((e) => e.definition.name);
  }

  /** Runs changes of the stored list one after another, each starting from the list the one before left. */
  #serially<T>(change: () => Promise<T>): Promise<T> {
    const result = this.#changes.then(change);
    this.#changes = result.catch(() => {});
    return result;
  }

  async #deleteData(id: string): Promise<void> {
    await deleteOverlay(id);
    await deleteCustomImage(id);
    await deleteVmShare(id);
    for (const deleteData of this.#deleters) await deleteData(id);
    await finishDeletion(id);
  }
}

/**
 * Removes the disk overlays and own image files of VMs that are not in the stored library. Records are
 * listed before the library is read: a VM's definition is stored before any of them, so a VM missing
 * from the library then has been deleted, not created (here or in another tab). A stored list that is
 * damaged tells nothing about which VMs are gone, and nothing is removed; ids of definitions that do not
 * parse count as present.
 */
async function removeOrphanedDisks(): Promise<void> {
  const overlays = await listOverlayVmIds();
  const files = await listCustomImageVmIds();
  const shares = await listVmShareIds();
  const vms = await loadDefinitionIds();
  if (!vms) return;
  for (const id of overlays) if (!vms.has(id)) await deleteOverlay(id);
  for (const id of files) if (!vms.has(id)) await deleteCustomImage(id);
  for (const id of shares) if (!vms.has(id)) await deleteVmShare(id);
}

function message(error: unknown): string {
  return error instanceof Error || error instanceof DOMException ? error.message : String(error);
}
