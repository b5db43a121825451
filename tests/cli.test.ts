// The headless runner as a person meets it: its answers to bad input (one line that says what is wrong,
// exit code 2, no stack trace), its exit status for each way a guest ends (docs/cli.md), the terminal,
// snapshot files, and the core build it runs first.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { ConsoleSession, tabvmSession } from '../scripts/lib/console-session.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { DISK_IMAGE_FORMAT } from '../workers/protocol/disk-image.ts';
// @ts-expect-error: a plain ES module without types (it runs before anything is compiled)
import { coreInputsDigest } from '../scripts/build-core.mjs';
import { brokenSnapshots, testSnapshotFile } from '../workers/test-support/test-snapshot-file.ts';
import { coreModule } from '../workers/cpu/test-support/machine.ts';
import { Machine } from '../workers/machine/machine.ts';
import { captureSnapshot, encodeSnapshot } from '../workers/machine/snapshot.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import { MemoryTree } from '../workers/host/9p/memory-tree.ts';
import { NinePServer } from '../workers/host/9p/server.ts';

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

  it('a share that is not a directory, or has a bad option', async () => {
    expect(await runRefused(['--share', '/nonexistent/dir'])).toMatch(/--share \/nonexistent\/dir: no such directory/);
    expect(await runRefused(['--share', `${scratch},rw`])).toMatch(/unknown option "rw"/);
  });

  it('a snapshot file that is damaged or not a snapshot', async () => {
    const junk = resolve(scratch, 'junk.tabvm');
    writeFileSync(junk, 'this is not a snapshot');
    expect(await runRefused(['--snapshot', junk])).toMatch(/--snapshot .*junk\.tabvm: not a tabvm snapshot/);
    expect(await runRefused(['--snapshot', resolve(scratch, 'none.tabvm')])).toMatch(/no such file/);
  });

  it('an option the runner does not know, or one without its value', async () => {
    expect(await runRefused(['--bogus'])).toMatch(/unknown option '--bogus'/);
    expect(await runRefused(['--mem'])).toMatch(/option '--mem <size>' argument missing/);
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

  it("a snapshot that had a share, started without it, naming the share's tag", async () => {
    const machine = new Machine(
      {
        bios: new Uint8Array(256),
        ramSize: 16 << 20,
        bootargs: '',
        sharedMemory: true,
        coreModule: await coreModule(),
        shares: [{ tag: 'shared', port: new NinePServer(new MemoryTree()) }],
      },
      { console: { write() {} } },
    );
    const { header } = await decodeSnapshotFile(await encodeSnapshot(captureSnapshot(machine)));
    const path = resolve(scratch, 'shared.tabvm');
    writeFileSync(path, await testSnapshotFile({ id: 'shared', devices: header.devices }));
    expect(await runRefused(['--snapshot', path])).toMatch(
      /^tabvm: --snapshot \S*shared\.tabvm: the snapshot's VM had a shared folder tagged "shared"; start it with --share DIR,tag=shared$/,
    );
  });

  it('a memory size that is not a size', async () => {
    expect(await runRefused(['--mem', 'lots'])).toMatch(/--mem lots: not a size/);
  });

  it('a directory as a snapshot', async () => {
    expect(await runRefused(['--snapshot', scratch])).toMatch(/--snapshot .*: a directory, not a snapshot file/);
  });

  it('a snapshot file over 2 GiB, which Node cannot read whole', async () => {
    const huge = resolve(scratch, 'huge.tabvm');
    writeFileSync(huge, '');
    truncateSync(huge, 2 ** 31 + 4096); // sparse: it takes no room on the disk
    expect(await runRefused(['--snapshot', huge])).toMatch(/--snapshot .*huge\.tabvm: 2\.0 GiB, larger than the 2 GiB/);
  });

  it('an endless device as a snapshot', async () => {
    expect(await runRefused(['--snapshot', '/dev/zero'])).toMatch(
      /--snapshot \/dev\/zero: a character device, not a snapshot file/,
    );
  });

  it('a FIFO as a snapshot, which nobody writes', async () => {
    const fifo = resolve(scratch, 'fifo.tabvm');
    execFileSync('mkfifo', [fifo]);
    expect(await runRefused(['--snapshot', fifo])).toMatch(/--snapshot .*fifo\.tabvm: a FIFO, not a snapshot file/);
  });
});

describe("npm run vm exits with the guest's code", () => {
  const exitElf = (name: string) => resolve(root, `tests/baremetal/bin/exit-code/${name}.elf`);

  async function run(args: string[]): Promise<{ code: number; output: string }> {
    const vm = tabvmSession(args, root);
    const code = await vm.exitCode(60_000);
    expect(vm.output).not.toMatch(/\n\s+at /); // no stack trace
    return { code, output: vm.output };
  }

  it('a code that fits in an exit status is the exit status', async () => {
    expect((await run(['--bios', exitElf('7')])).code).toBe(7);
  });

  it('a code of 256 or more is 255, not its low 8 bits (256 would read as success)', async () => {
    const { code, output } = await run(['--bios', exitElf('256')]);
    expect(code).toBe(255);
    expect(output).toContain("the guest's exit code 256 does not fit in an exit status: exit status 255");
  });

  it('tohost with every bit set ends the run with 255', async () => {
    const { code, output } = await run(['--bios', exitElf('all-ones')]);
    expect(code).toBe(255);
    expect(output).toMatch(/the guest's exit code above 2\^53 does not fit in an exit status/);
  });

  it('a kernel panic ends the run with 4 and the panic line as the reason', async () => {
    // Without the initramfs's /init the kernel looks for a root device, finds none and panics.
    const { code, output } = await run([
      '--append',
      'console=ttyS0 earlycon=sbi cryptomgr.notests rdinit=/nonexistent',
    ]);
    expect(output).toContain('---[ end Kernel panic - not syncing');
    expect(output).toMatch(
      /\ntabvm: the guest kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block\(0,0\)\r?\n$/,
    );
    expect(code).toBe(4);
  }, 300_000);
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

describe('npm run vm boots the disk of an image that has one', () => {
  /** An image directory like public/images/debian: the default image's files plus a chunked disk (all zeros). */
  function imageWithDisk(): string {
    const images = mkdtempSync(resolve(tmpdir(), 'tabvm-images-'));
    const dir = resolve(images, 'withdisk');
    mkdirSync(dir);
    const defaults = JSON.parse(readFileSync(resolve(root, 'public/images/default/manifest.json'), 'utf8')) as {
      files: Record<string, { path: string; size: number }>;
    };
    for (const file of Object.values(defaults.files))
      copyFileSync(resolve(root, 'public/images/default', file.path), resolve(dir, file.path));
    const disk = { format: DISK_IMAGE_FORMAT, size: 1 << 20, chunkSize: 1 << 16, chunks: [] };
    writeFileSync(
      resolve(dir, 'manifest.json'),
      JSON.stringify({ ...defaults, name: 'withdisk', bootargs: 'console=ttyS0 root=/dev/vda', disk }),
    );
    return images;
  }

  it('attaches it as /dev/vda without --disk, writes kept in memory', () => {
    const images = imageWithDisk();
    const files = resolveVmFiles({ image: 'withdisk' }, images);
    expect(files.disks).toHaveLength(1);
    expect(files.disks![0]).toMatchObject({ path: resolve(images, 'withdisk'), readOnly: false });
    expect(files.disks![0]!.chunked?.size).toBe(1 << 20);
  });

  it('--disk replaces it', () => {
    const images = imageWithDisk();
    const raw = resolve(scratch, 'replacement.img');
    writeFileSync(raw, new Uint8Array(1 << 16));
    const files = resolveVmFiles({ image: 'withdisk', disk: [raw] }, images);
    expect(files.disks).toEqual([{ path: raw, readOnly: false }]);
  });

  it('the default image has no disk and gets none', () => {
    expect(resolveVmFiles({}, resolve(root, 'public/images')).disks).toBeUndefined();
  });
});

describe('npm run build:core compiles only when its inputs changed', () => {
  /** A tree with the core's sources, the build script and a build made from them, in a scratch directory. */
  function coreTree(): string {
    const tree = mkdtempSync(resolve(tmpdir(), 'tabvm-core-'));
    mkdirSync(resolve(tree, 'scripts'));
    copyFileSync(resolve(root, 'scripts/build-core.mjs'), resolve(tree, 'scripts/build-core.mjs'));
    cpSync(resolve(root, 'workers/cpu'), resolve(tree, 'workers/cpu'), {
      recursive: true,
      filter: (path) => !path.endsWith('.test.ts'),
    });
    symlinkSync(resolve(root, 'node_modules'), resolve(tree, 'node_modules'));
    return tree;
  }
  const build = (tree: string) =>
    execFileSync(process.execPath, [resolve(tree, 'scripts/build-core.mjs')], { cwd: tree });
  const builtAt = (tree: string) => statSync(resolve(tree, 'workers/cpu/build/core.wasm')).mtimeMs;

  it('the digest covers the sources, what they import from outside them, and the compiler version', () => {
    const tree = coreTree();
    const digest = coreInputsDigest(tree, '0.28.20') as string;
    expect(coreInputsDigest(tree, '0.28.21')).not.toBe(digest);
    appendFileSync(resolve(tree, 'workers/cpu/disasm.ts'), '\n// not compiled into the core\n');
    expect(coreInputsDigest(tree, '0.28.20')).toBe(digest);
    appendFileSync(resolve(tree, 'workers/cpu/layout.ts'), '\n// imported by the core\n');
    const afterLayout = coreInputsDigest(tree, '0.28.20') as string;
    expect(afterLayout).not.toBe(digest);
    appendFileSync(resolve(tree, 'workers/cpu/assembly/fp.ts'), '\n// a source\n');
    expect(coreInputsDigest(tree, '0.28.20')).not.toBe(afterLayout);
  });

  it('a second run leaves the build alone; a changed source builds again', () => {
    // The build this worktree's tests run on is current (npm test builds it first), so is its copy.
    execFileSync(process.execPath, ['scripts/build-core.mjs'], { cwd: root });
    const tree = coreTree();
    const before = builtAt(tree);
    build(tree);
    expect(builtAt(tree)).toBe(before);
    const digest = readFileSync(resolve(tree, 'workers/cpu/build/sources.sha256'), 'utf8');
    appendFileSync(resolve(tree, 'workers/cpu/assembly/fp.ts'), '\n// changed\n');
    build(tree);
    expect(builtAt(tree)).toBeGreaterThan(before);
    expect(readFileSync(resolve(tree, 'workers/cpu/build/sources.sha256'), 'utf8')).not.toBe(digest);
  }, 300_000);
});
