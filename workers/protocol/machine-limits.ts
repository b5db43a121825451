/**
 * The sizes a VM may have, defined once for everything that accepts one: the New VM dialog and the
 * embed's `memory` option (src/), `npm run vm --mem` (scripts/lib/vm-options.ts) and the snapshot reader
 * (snapshot-records.ts), so that a snapshot cannot bring in a machine none of them would build.
 */

export const MIB = 1024 * 1024;

/** The least RAM a VM gets, in MiB: below it no Linux image of ours boots. */
export const MIN_RAM_MIB = 16;

/**
 * The most RAM a VM gets, in MiB: a wasm32 memory holds at most 4 GiB, and the tab must find the whole
 * of it as one allocation, which browsers refuse well before that on ordinary machines.
 */
export const MAX_RAM_MIB = 2048;

/**
 * The most CPUs (harts) a VM gets: the VM memory has room for this many state blocks, JIT caches, wake
 * words and MMIO mailboxes (workers/cpu/layout.ts MAX_HARTS, the same number: that file holds only literals for the wasm build, scripts/lib/vm-options.test.ts checks they agree).
 */
export const MAX_CPUS = 8;

/** Why `bytes` of RAM is not a size a VM may have (a phrase to follow "RAM: "), or undefined if it is. */
export function ramSizeProblem(bytes: number): string | undefined {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % MIB !== 0) return 'RAM must be a whole number of MiB';
  if (bytes < MIN_RAM_MIB * MIB) return `the VM needs at least ${MIN_RAM_MIB} MiB of RAM`;
  if (bytes > MAX_RAM_MIB * MIB) return `at most ${MAX_RAM_MIB} MiB of RAM is supported`;
  return undefined;
}

/** Why a snapshot's machine with `bytes` of RAM cannot be restored (one sentence), or undefined if it can. */
export function snapshotRamProblem(bytes: number): string | undefined {
  const problem = ramSizeProblem(bytes);
  if (problem === undefined) return undefined;
  const size = bytes % MIB === 0 ? `${bytes / MIB} MiB` : `${bytes} bytes`;
  return `the snapshot's machine has ${size} of RAM: ${problem}`;
}
