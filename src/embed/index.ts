/**
 * tabvm's embedding library: live RISC-V Linux VMs for tutorial pages.
 *
 *   import { createVM } from 'tabvm';
 *   const vm = createVM({ image: '/images/default/manifest.json', container: document.querySelector('#vm') });
 *   const { output, exitCode } = await vm.run('uname -a');
 *
 * or, in HTML, the <tabvm-terminal> element (registered by defineTabvmTerminal(), or by importing
 * 'tabvm/tabvm-terminal'). The VM's worker and CPU core are loaded relative to this module's own URL.
 */
export { createVM, isolationMode, TabVm, TabvmError, TabvmTimeoutError } from './vm.ts';
export { defineTabvmTerminal, TabvmTerminalElement } from './element.ts';
export type {
  CreateVmOptions,
  EmbedEvent,
  EmbedReply,
  EmbedRequest,
  FetchReply,
  FileEntry,
  RunResult,
  TimeoutOption,
  VmEventMap,
  VmMode,
  VmOptions,
  VmOptionsInput,
  VmState,
} from './types.ts';
