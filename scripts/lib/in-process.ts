/**
 * For scripts and tests that run a machine in their own thread: the compiled core and the default
 * image's files, as the manifest names them (the same reading the runner does).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { resolveVmFiles, type VmFiles } from './vm-options.ts';

export const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

let core: WebAssembly.Module | undefined;

/** workers/cpu/build/core.wasm, compiled once (npm test and npm run vm build it first). */
export function coreModule(): WebAssembly.Module {
  core ??= new WebAssembly.Module(readFileSync(resolve(repoRoot, 'workers/cpu/build/core.wasm')));
  return core;
}

export type DefaultImage = VmFiles & { readonly kernel: Uint8Array; readonly initrd: Uint8Array };

/** public/images/default: firmware, kernel, initrd and bootargs from its manifest; RAM as `mem` says. */
export function defaultImage(mem?: string): DefaultImage {
  const files = resolveVmFiles({ image: 'default', ...(mem ? { mem } : {}) }, resolve(repoRoot, 'public/images'));
  const { kernel, initrd } = files;
  if (!kernel || !initrd) throw new Error('public/images/default/manifest.json names no kernel or no initrd');
  return { ...files, kernel, initrd };
}
