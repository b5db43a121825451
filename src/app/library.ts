/**
 * The VM library: the persisted definitions (src/storage) joined to one VmController each. React reads
 * it through useSyncExternalStore; every change makes a new snapshot object.
 */
import { VmController } from '../controller/vm-controller.ts';
import { ObservableState } from '../controller/observable-state.ts';
import { loadDefinitions, saveDefinitions, type VmDefinition } from '../storage/vm-store.ts';
import { deleteOverlay } from '../storage/disk-overlay.ts';
import { deleteCustomImage, saveCustomImage } from '../storage/custom-images.ts';
import type { CustomImageFiles } from '../controller/custom-image.ts';

export interface VmEntry {
  readonly definition: VmDefinition;
  readonly controller: VmController;
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

  constructor(shared: boolean) {
    this.shared = shared;
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
    return new VmController({
      id: definition.id,
      image: definition.image,
      ramMiB: definition.ramMiB,
      shared: this.shared,
    });
  }

  #loading: Promise<void> | undefined;

  /** Reads the saved definitions once (React's StrictMode runs effects twice in development). */
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
    }
  }

  isNameTaken(name: string): boolean {
    const key = name.trim().toLowerCase();
    return this.#snapshot.entries.some((entry) => entry.definition.name.toLowerCase() === key);
  }

  /** Adds a VM; `custom` are the user's own files for a VM of the custom image, stored first. */
  async create(fields: Omit<VmDefinition, 'id' | 'createdAt'>, custom?: CustomImageFiles<File>): Promise<VmEntry> {
    const definition: VmDefinition = {
      ...fields,
      name: fields.name.trim(),
      id: crypto.randomUUID(),
      createdAt: Date.now(),
    };
    if (custom) await saveCustomImage(definition.id, custom);
    const entry = { definition, controller: this.#controllerFor(definition) };
    const entries = [...this.#snapshot.entries, entry];
    await saveDefinitions(entries.map((e) => e.definition));
    this.#set({ ...this.#snapshot, entries });
    return entry;
  }

  async remove(id: string): Promise<void> {
    const entry = this.#snapshot.entries.find((e) => e.definition.id === id);
    if (!entry) return;
    entry.controller.dispose();
    const entries = this.#snapshot.entries.filter((e) => e !== entry);
    this.#set({ ...this.#snapshot, entries });
    await saveDefinitions(entries.map((e) => e.definition));
    await deleteOverlay(id);
    await deleteCustomImage(id);
  }
}
