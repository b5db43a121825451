/** What the two-thread test hands its worker threads, and what they send back. */
import type { MachineStatus } from '../../workers/machine/device-host.ts';
import type { SavedThreadedMachine } from '../../workers/machine/threads.ts';
import type { VmBootFiles } from '../../scripts/lib/vm-options.ts';

export interface ThreadData {
  /** The program the thread runs (entry.mjs imports it). */
  readonly program: string;
  readonly memory: WebAssembly.Memory;
  readonly coreModule: WebAssembly.Module;
  readonly files: VmBootFiles;
  /** A ByteRing's buffer: console input, host to guest. */
  readonly input: SharedArrayBuffer;
}

export type ThreadMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'console'; readonly bytes: Uint8Array }
  | { readonly kind: 'halted'; readonly status: MachineStatus }
  | { readonly kind: 'saved'; readonly saved: SavedThreadedMachine }
  | { readonly kind: 'hart-stopped'; readonly instret: bigint };
