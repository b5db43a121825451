/** What tests/net.test.ts and tests/netdev.test.ts share: the default image with a network card, and a marked command. */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles, type VmFiles } from '../scripts/lib/vm-options.ts';

export const root = resolve(fileURLToPath(import.meta.url), '../..');
export const PROMPT = 'root@tabvm:~# ';
export const GUEST_MAC = '52:54:00:12:34:56';

/** The default image with 128 MiB and a network card at GUEST_MAC. */
export function netVmFiles(): VmFiles {
  return { ...resolveVmFiles({ mem: '128M' }, resolve(root, 'public/images')), net: { mac: GUEST_MAC } };
}

/**
 * Types `command` and returns what it printed, up to `marker` (which the command echoes at its end, within
 * `timeoutMs`), and where the next prompt ends.
 */
export async function runMarked(
  con: NodeVmConsole,
  command: string,
  marker: string,
  from: number,
  timeoutMs: number,
): Promise<[string, number]> {
  con.type(`${command}; echo ${marker}-$((6*7))\n`);
  const end = await con.waitFor(`${marker}-42`, timeoutMs, from);
  const start = con.output.indexOf('\n', from) + 1;
  return [con.output.slice(start, end).replace(/\r/g, ''), await con.waitFor(PROMPT, 30_000, end)];
}
