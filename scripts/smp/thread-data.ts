/** What the multi-hart runner (scripts/lib/smp-vm.ts) hands its worker threads, and what they send back. */
import type { MachineStatus } from '../../workers/machine/device-host.ts';
import type { VmBootFiles } from '../lib/vm-options.ts';

export interface SmpThreadData {
  /** The program the thread runs (thread-entry.mjs imports it). */
  readonly program: string;
  readonly memory: WebAssembly.Memory;
  readonly coreModule: WebAssembly.Module;
  readonly harts: number;
  /** The hart this thread runs (hart threads only). */
  readonly hartId: number;
  /** A bare-metal program's tohost word, as the device host found it (hart threads only). */
  readonly tohost?: number;
  readonly files: VmBootFiles;
  /** ByteRing buffers of the console: input (host to guest) and output (guest to host). */
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
}

export type SmpThreadMessage =
  /** The images are in RAM; `tohost`: a bare-metal program's tohost word, if it has one. */
  | { readonly kind: 'ready'; readonly tohost: number | undefined }
  | { readonly kind: 'halted'; readonly status: MachineStatus & { readonly kind: 'halted' } }
  /** The guest kernel panicked; `message` is its panic line (workers/host/panic-watch.ts). */
  | { readonly kind: 'panicked'; readonly message: string }
  | { readonly kind: 'hart-stopped'; readonly hartId: number };
