/**
 * VM definitions in IndexedDB (idb-keyval), so the library survives a reload. A definition is what the
 * New VM dialog asked for; running state is not persisted (a reload powers the VMs off, as closing the
 * tab does). Records are validated when read, so a damaged or older entry is skipped, not fatal.
 *
 * Deleting a VM is crash-safe: its definition leaves the list and its id joins the list of VMs being
 * deleted in one transaction, before any of its data (disk overlay, own image files, snapshots) goes;
 * the id leaves that list only once all of it is gone. A deletion the closed tab interrupted is
 * therefore still listed at the next start, which finishes it.
 */
import { createStore, get, promisifyRequest, set } from 'idb-keyval';
import { z } from 'zod';
import { MAX_CPUS } from '../../workers/protocol/machine-limits.ts';
import { isMacAddress, randomMacAddress } from '../../workers/protocol/mac-address.ts';

export const VmDefinitionSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  image: z.string().min(1),
  ramMiB: z.number().int().positive(),
  /** CPUs (harts), 1 to 8; absent in definitions from before SMP, which have one. */
  cpus: z.number().int().min(1).max(MAX_CPUS).optional(),
  createdAt: z.number(),
  /**
   * The network card's address, made when the VM is created (a clone is a new VM, with its own) and kept
   * with it. A definition stored before VMs had one gets one when it is read; saved with the next change.
   */
  mac: z.string().refine(isMacAddress, 'not a MAC address').default(randomMacAddress),
  /**
   * Whether the VM has a network card on the browser's network (docs/networking.md); absent (a
   * definition from before the setting) means on, as for a new VM.
   */
  network: z.boolean().optional(),
  /**
   * A linked clone's base: the snapshot of another VM it was cloned from, whose chain its own snapshots
   * and automatic snapshots extend instead of copying it (docs/snapshots.md, "Clones"). While the clone
   * exists, that snapshot and its VM cannot be deleted.
   */
  linkedTo: z.object({ vmId: z.string().min(1), snapshotId: z.string().min(1) }).optional(),
});

export type VmDefinition = z.infer<typeof VmDefinitionSchema>;

const store = createStore('tabvm', 'library');
const KEY = 'vms-v1';
const DELETING_KEY = 'deleting-v1';

const DeletingSchema = z.array(z.string().min(1));

export async function loadDefinitions(): Promise<VmDefinition[]> {
  const raw: unknown = await get(KEY, store);
  if (!Array.isArray(raw)) return [];
  const out: VmDefinition[] = [];
  for (const item of raw) {
    const parsed = VmDefinitionSchema.safeParse(item);
    if (parsed.success) out.push(parsed.data);
    else console.warn('tabvm: skipping a stored VM definition that does not parse', parsed.error.issues[0]);
  }
  return out;
}

/**
 * The ids of every stored VM, also of definitions that do not parse (one written by a newer tabvm, or
 * damaged): what must not be treated as deleted. Undefined when the stored list itself is damaged, so
 * no VM can be told to be gone.
 */
export async function loadDefinitionIds(): Promise<Set<string> | undefined> {
  const raw: unknown = await get(KEY, store);
  if (raw === undefined) return new Set();
  if (!Array.isArray(raw)) return undefined;
  const ids = new Set<string>();
  for (const item of raw) if (typeof item?.id === 'string') ids.add(item.id);
  return ids;
}

export async function saveDefinitions(definitions: readonly VmDefinition[]): Promise<void> {
  await set(KEY, definitions, store);
}

/** Ids of VMs whose deletion began but has not finished (their data may still be stored). */
export async function loadDeleting(): Promise<string[]> {
  const parsed = DeletingSchema.safeParse(await get(DELETING_KEY, store));
  return parsed.success ? parsed.data : [];
}

/**
 * The first step of deleting VM `id`, all or nothing: the library becomes `remaining` and `id` is
 * listed as being deleted.
 */
export async function beginDeletion(remaining: readonly VmDefinition[], id: string): Promise<void> {
  await changeDeleting((deleting) => (deleting.includes(id) ? deleting : [...deleting, id]), remaining);
}

/** The last step of deleting VM `id`: everything of it is gone, so it is no longer listed. */
export async function finishDeletion(id: string): Promise<void> {
  await changeDeleting((deleting) => deleting.filter((other) => other !== id));
}

/** Rewrites the list of VMs being deleted (and with `definitions`, the library) in one transaction. */
async function changeDeleting(
  change: (deleting: string[]) => string[],
  definitions?: readonly VmDefinition[],
): Promise<void> {
  await store('readwrite', (s) => {
    // The puts are made in the get's success callback, while the transaction is certainly active.
    s.get(DELETING_KEY).onsuccess = function () {
      const parsed = DeletingSchema.safeParse(this.result);
      s.put(change(parsed.success ? parsed.data : []), DELETING_KEY);
      if (definitions) s.put(definitions, KEY);
    };
    return promisifyRequest(s.transaction);
  });
}
