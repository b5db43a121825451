/**
 * `npx tsx scripts/measure-agent.ts [--boots N]` — what the guest agent (docs/guest-agent.md) costs the
 * default image, in the headless runner:
 * - boot: seconds and guest instructions to the shell prompt with this checkout's initramfs (agent) and
 *   with one given by TABVM_BASELINE_INITRD (e.g. the main checkout's, without it), alternated N times
 *   each (the instructions do not depend on the host's load);
 * - idle: guest instructions and host CPU per second of a VM at its prompt, over 20 s samples with the
 *   agent running, then killed, then started again, then killed (interleaved, since the machine's load
 *   varies).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { resolveVmFiles } from './lib/vm-options.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';
const SAMPLE_MS = 20_000;
const cli = new Command().option('--boots <n>', 'boots of each initramfs', '3').parse().opts<{ boots: string }>();
const files = resolveVmFiles({ net: 'none' }, resolve(root, 'public/images'));
const baseline = process.env.TABVM_BASELINE_INITRD;

async function boot(initrd: Uint8Array | undefined): Promise<string> {
  const started = performance.now();
  const vm = new NodeVm(initrd ? { ...files, initrd } : files);
  try {
    await new NodeVmConsole(vm).waitFor(PROMPT, 300_000);
    return `${((performance.now() - started) / 1000).toFixed(1)} s/${(vm.instructions / 1e6).toFixed(0)} M`;
  } finally {
    await vm.terminate();
  }
}

if (baseline) {
  const old = readFileSync(baseline);
  const boots: Record<'agent' | 'baseline', string[]> = { agent: [], baseline: [] };
  for (let i = 0; i < Number(cli.boots); i++) {
    boots.baseline.push(await boot(old));
    boots.agent.push(await boot(undefined));
  }
  for (const [name, list] of Object.entries(boots))
    console.log(`boot to prompt (time/guest instructions), ${name}: ${list.join(', ')}`);
}

const vm = new NodeVm(files);
try {
  const con = new NodeVmConsole(vm);
  let at = await con.waitFor(PROMPT, 300_000);
  const command = async (line: string) => {
    con.type(`${line}\necho DONE-$((6*7))\n`);
    at = await con.waitFor(PROMPT, 60_000, await con.waitFor('DONE-42', 60_000, at));
  };
  await new Promise((r) => setTimeout(r, 5000));
  for (const agent of [true, false, true, false]) {
    if (agent) await command('tabvm-agent </dev/null >/dev/null 2>&1 &');
    else await command('killall tabvm-agent');
    await new Promise((r) => setTimeout(r, 3000));
    const instructions = vm.instructions;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    console.log(
      `idle, agent ${agent ? 'running' : 'killed '}: ${((vm.instructions - instructions) / seconds / 1e6).toFixed(2)} M guest instructions/s, ` +
        `${((used.user + used.system) / 1000 / seconds / 10).toFixed(2)} % of a host core`,
    );
  }
} finally {
  await vm.terminate();
}
process.exit(0);
