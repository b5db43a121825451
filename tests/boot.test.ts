// Boots the committed default image in the headless runner, exactly as `npm run vm` does, and uses the
// shell like a person would.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { tabvmSession } from '../scripts/lib/console-session.ts';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';

describe('the default image', () => {
  it('boots to a shell that runs commands, then powers off with exit code 0', async () => {
    const vm = tabvmSession([], root);
    try {
      let at = await vm.waitFor(PROMPT, 240_000);
      // The trailing marker is computed by the shell, so the echo of the typed line cannot match it.
      vm.type('echo $((6*7)); uname -m; grep -m1 isa /proc/cpuinfo; echo DONE-$((40+2))\n');
      const end = await vm.waitFor('DONE-42', 60_000, at);
      const lines = vm.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
      expect(lines).toContain('42');
      expect(lines).toContain('riscv64');
      expect(lines.find((l) => /^isa\s*:/.test(l))).toMatch(/^isa\s*:\s*rv64imafdc/);
      at = await vm.waitFor(PROMPT, 10_000, end);
      vm.type('poweroff\n');
      expect(await vm.exitCode(60_000)).toBe(0);
    } finally {
      vm.kill();
    }
  }, 400_000);

  it("runs its shell on hvc0 with the terminal's size, and follows a resize", async () => {
    const files = resolveVmFiles({}, resolve(root, 'public/images'));
    const vm = new NodeVm(files, undefined, { consoleSize: { cols: 100, rows: 30 } });
    try {
      const con = new NodeVmConsole(vm);
      let at = await con.waitFor(PROMPT, 240_000);
      // The computed marker follows the answers, so the echo of the typed line cannot match.
      con.type('tty; stty size; echo SIZE-$((1+1))\n');
      let end = await con.waitFor('SIZE-2', 60_000, at);
      let lines = con.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
      expect(lines).toContain('/dev/hvc0');
      expect(lines).toContain('30 100');
      at = await con.waitFor(PROMPT, 10_000, end);
      vm.resize(120, 40);
      // The guest learns it from a configuration change interrupt, handled by a kernel worker soon after:
      // give that a few seconds, then show the size the shell's terminal has.
      con.type('for i in 1 2 3 4 5; do [ "$(stty size)" = "40 120" ] && break; sleep 1; done; stty size; echo SIZE-$((2+2))\n');
      end = await con.waitFor('SIZE-4', 60_000, at);
      lines = con.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
      expect(lines).toContain('40 120');
      // hvc0 is the shell's controlling terminal: Ctrl-C interrupts its foreground job.
      at = await con.waitFor(PROMPT, 10_000, end);
      con.type('echo START-$((1+1)); sleep 1000\n');
      await con.waitFor('START-2', 30_000, at);
      con.type('\x03');
      con.type('echo AFTER-$((1+2))\n');
      await con.waitFor('AFTER-3', 60_000, at);
    } finally {
      await vm.terminate();
    }
  }, 400_000);
});
