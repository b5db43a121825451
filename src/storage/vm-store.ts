/**
 * VM definitions in IndexedDB (idb-keyval), so the library survives a reload. A definition is what the
 * New VM dialog asked for; running state is not persisted (a reload powers the VMs off, as closing the
 * tab does). Records are validated when read, so a damaged or older entry is skipped, not fatal.
 */
import { createStore, get, set } from 'idb-keyval';
import { z } from 'zod';

export const VmDefinitionSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  image: z.string().min(1),
  ramMiB: z.number().int().positive(),
  createdAt: z.number(),
});
export type VmDefinition = z.infer<typeof VmDefinitionSchema>;

const store = createStore('tabvm', 'library');
const KEY = 'vms-v1';

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

export async function saveDefinitions(definitions: readonly VmDefinition[]): Promise<void> {
  await set(KEY, definitions, store);
}
