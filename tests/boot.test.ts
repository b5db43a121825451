// Boots the committed default image in the headless runner, exactly as `npm run vm` does, and uses the
// shell like a person would.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { tabvmSession } from '../scripts/lib/console-session.ts';

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
});
