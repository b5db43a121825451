// The runner's answers to bad input: one line that says what is wrong, exit code 2, no stack trace.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ConsoleSession, tabvmSession } from '../scripts/lib/console-session.ts';
import { brokenSnapshots } from '../workers/test-support/test-snapshot-file.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';
const scratch = mkdtempSync(resolve(tmpdir(), 'tabvm-cli-'));

async function runRefused(args: string[]): Promise<string> {
  const vm = tabvmSession(args, root);
  const code = await vm.exitCode(30_000);
  expect(code).toBe(2);
  const lines = vm.output.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(vm.output).not.toMatch(/\n\s+at /); // no stack trace
  return lines[0]!;
}

describe('npm run vm refuses bad input', () => {
  it('a missing file', async () => {
    expect(await runRefused(['--kernel', '/nonexistent/Image'])).toMatch(/--kernel \/nonexistent\/Image: no such file/);
  });

  it('an ELF for another machine', async () => {
    // /bin/true on this host is an x86-64 ELF.
    expect(await runRefused(['--bios', '/bin/true'])).toMatch(/not RISC-V|x86-64|machine/i);
  });

  it('a file that is neither an ELF nor a kernel image, as a kernel', async () => {
    const junk = resolve(scratch, 'junk.bin');
    writeFileSync(junk, 'this is not a kernel\n'.repeat(100));
    expect(await runRefused(['--kernel', junk])).toMatch(/junk\.bin|kernel/);
  });

  it('RAM too small for what is loaded', async () => {
    const big = resolve(scratch, 'big-initrd');
    writeFileSync(big, new Uint8Array(40 * 1024 * 1024));
    expect(await runRefused(['--initrd', big, '--mem', '32M'])).toMatch(/RAM|fit|too small/i);
  });

  it('a snapshot file that is damaged or not a snapshot', async () => {
    const junk = resolve(scratch, 'junk.tabvm');
    writeFileSync(junk, 'this is not a snapshot');
    expect(await runRefused(['--snapshot', junk])).toMatch(/--snapshot .*junk\.tabvm: not a tabvm snapshot/);
    expect(await runRefused(['--snapshot', resolve(scratch, 'none.tabvm')])).toMatch(/no such file/);
  });

  it('a snapshot file whose machine this tabvm could not build, each defect in one sentence', async () => {
    const cases = await brokenSnapshots();
    expect(cases).toHaveLength(7);
    for (const { defect, file, refusal } of cases) {
      const path = resolve(scratch, 'broken.tabvm');
      writeFileSync(path, file);
      const line = await runRefused(['--snapshot', path]);
      expect(line, defect).toMatch(/^tabvm: --snapshot \S*broken\.tabvm: /);
      expect(line.replace(/^tabvm: --snapshot \S*broken\.tabvm: /, ''), defect).toMatch(refusal);
    }
  });

  it('a memory size that is not a size', async () => {
    expect(await runRefused(['--mem', 'lots'])).toMatch(/--mem lots: not a size/);
  });
});

describe('npm run vm on a terminal', () => {
  it('puts the terminal in raw mode and quits on Ctrl-A X, as QEMU does', async () => {
    // `script` gives the runner a pseudo-terminal, so it behaves as it does for a person.
    const vm = new ConsoleSession('script', ['-qfec', `${process.execPath} --import tsx scripts/vm.ts`, '/dev/null'], {
      cwd: root,
    });
    try {
      const at = await vm.waitFor(PROMPT, 240_000);
      // In raw mode Ctrl-C reaches the guest as a byte instead of killing the runner.
      vm.type('sleep 30\r');
      await vm.waitFor('sleep 30', 10_000, at);
      // Give the shell time to start `sleep` in the foreground: a ^C that lands while ash is still
      // between reading the line and forking is taken by ash itself (Linux does the same under QEMU).
      await new Promise((r) => setTimeout(r, 1000));
      vm.type('\x03');
      const after = await vm.waitFor(PROMPT, 10_000, at);
      expect(vm.output.slice(at, after)).toContain('^C');
      vm.type('\x01x');
      await vm.waitFor('terminated (Ctrl-A X)', 10_000, after);
      expect(await vm.exitCode(10_000)).toBe(0);
    } finally {
      vm.kill();
    }
  }, 300_000);
});

describe('npm run vm snapshots', () => {
  it('Ctrl-A S saves a snapshot file; --snapshot starts from it with the files and shell as they were', async () => {
    const saveDir = mkdtempSync(resolve(tmpdir(), 'tabvm-snap-'));
    const command = (args: string) => `${process.execPath} --import tsx scripts/vm.ts ${args}`;
    const first = new ConsoleSession('script', ['-qfec', command(`--mem 96M --save-dir ${saveDir}`), '/dev/null'], {
      cwd: root,
    });
    let file: string;
    try {
      let at = await first.waitFor(PROMPT, 240_000);
      first.type('echo $((2000+22)) > /tmp/f\r');
      at = await first.waitFor(PROMPT, 10_000, at);
      first.type('\x01s');
      await first.waitFor(/snapshot saved to \S+\.tabvm/, 30_000, at);
      const saved = readdirSync(saveDir).filter((name) => name.endsWith('.tabvm'));
      expect(saved).toHaveLength(1);
      file = resolve(saveDir, saved[0]!);
      first.type('\x01x');
      expect(await first.exitCode(10_000)).toBe(0);
    } finally {
      first.kill();
    }
    const second = new ConsoleSession('script', ['-qfec', command(`--snapshot ${file}`), '/dev/null'], { cwd: root });
    try {
      // No boot log: the guest continues at its prompt. Enter shows it again.
      second.type('\r');
      const at = await second.waitFor(PROMPT, 60_000);
      expect(second.output.slice(0, at)).not.toContain('Linux version');
      second.type('echo F=$(cat /tmp/f)\r');
      await second.waitFor('F=2022', 30_000, at);
      second.type('\x01x');
      expect(await second.exitCode(10_000)).toBe(0);
    } finally {
      second.kill();
    }
  }, 400_000);
});
