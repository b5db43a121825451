/**
 * The published library (dist-lib/, from `npm run build:lib`) on a page of its own: a plain static
 * server started here serves the page at /, the library under /vendor/tabvm/ and the default image
 * under /images/default/. The worker and the CPU core must be found relative to the library's URL
 * (a build that resolved them against the page would ask for /assets/… and fail).
 */
import { test, expect } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { BOOT_TIMEOUT } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MOUNTS: readonly [string, string][] = [
  ['/vendor/tabvm/', resolve(ROOT, 'dist-lib')],
  ['/images/default/', resolve(ROOT, 'public/images/default')],
  ['/snapshots/', resolve(ROOT, 'public/snapshots')],
];
/** The tutorial's snapshot with one byte flipped in the middle: its checksum no longer matches. */
const CORRUPT_SNAPSHOT = '/corrupt.tabvm';
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.json': 'application/json', '.html': 'text/html' };

const PAGE = `<!doctype html><meta charset="utf-8"><title>library</title>
<div id="vm" style="width:800px;height:400px"></div>
<script type="module">
  import { createVM } from '/vendor/tabvm/index.js';
  const vm = createVM({ image: '/images/default/manifest.json', memory: 128, container: document.getElementById('vm') });
  window.vm = vm;
  window.states = [];
  vm.on('state', (state) => window.states.push(state));
</script>`;

/** A page that only loads the library, for tests that create their own VMs. */
const BARE_PAGE = `<!doctype html><meta charset="utf-8"><title>library</title>
<div id="vm" style="width:800px;height:400px"></div>
<script type="module">
  import { createVM } from '/vendor/tabvm/index.js';
  window.createVM = createVM;
</script>`;

let server: Server;
let origin: string;

test.beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    // Cross-origin isolated, as a tutorial site that can send headers would be.
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    if (path === '/' || path === '/bare') {
      res.setHeader('Content-Type', 'text/html');
      res.end(path === '/' ? PAGE : BARE_PAGE);
      return;
    }
    if (path === CORRUPT_SNAPSHOT) {
      const file = await readFile(resolve(ROOT, 'public/snapshots/tutorial.tabvm'));
      file[file.length >> 1]! ^= 0x40;
      res.end(file);
      return;
    }
    for (const [prefix, dir] of MOUNTS) {
      if (!path.startsWith(prefix)) continue;
      const file = resolve(dir, `.${path.slice(prefix.length - 1)}`);
      if (!file.startsWith(dir + sep) || !(await stat(file).catch(() => undefined))?.isFile()) break;
      res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
      res.end(await readFile(file));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

test.afterAll(() => new Promise<void>((done) => server.close(() => done())));

test('the library build boots a VM from its own URL and run() answers', async ({ page }) => {
  await page.goto(`${origin}/`);
  type Page = {
    vm: {
      mode: string;
      run(c: string, o: { timeout: number }): Promise<{ output: string; exitCode: number }>;
      type(text: string): void;
    };
    states: string[];
  };
  await expect.poll(() => page.evaluate(() => (window as unknown as Page).vm?.mode)).toBe('shared');
  const result = await page.evaluate(
    (timeout) => (window as unknown as Page).vm.run('uname -m', { timeout }),
    BOOT_TIMEOUT,
  );
  expect(result).toEqual({ output: 'riscv64\n', exitCode: 0 });
  expect(await page.evaluate(() => (window as unknown as Page).states)).toEqual(['downloading', 'booting', 'ready']);
  await expect(page.locator('#vm .xterm-rows')).toContainText('# uname -m');

  // After the guest reboots itself, the new shell is set up again and run() reports exit codes anew.
  await page.evaluate(() => (window as unknown as Page).vm.type('reboot\r'));
  await expect
    .poll(() => page.evaluate(() => (window as unknown as Page).states.join(' ')), { timeout: BOOT_TIMEOUT })
    .toBe('downloading booting ready booting ready');
  const after = await page.evaluate(() => (window as unknown as Page).vm.run('sh -c "exit 3"', { timeout: 30_000 }));
  expect(after).toEqual({ output: '', exitCode: 3 });
});

/** What the tests use of a TabVm, as the page's script sees it. */
type Vm = {
  state: string;
  error?: string;
  output: string;
  start(o?: { timeout: number }): Promise<void>;
  run(c: string, o?: { timeout: number }): Promise<{ output: string; exitCode: number }>;
  snapshot(): Promise<Uint8Array>;
  restore(bytes?: Uint8Array): Promise<void>;
  on(type: 'state', listener: (state: string) => void): () => void;
};
type BarePage = {
  createVM(options: object): Vm;
  vm: Vm;
  states: string[];
  file: Uint8Array;
};

test('createVM({ snapshotUrl }) starts from a snapshot, and snapshot()/restore() round trip', async ({ page }) => {
  await page.goto(`${origin}/bare`);
  await expect.poll(() => page.evaluate(() => typeof (window as unknown as BarePage).createVM)).toBe('function');
  await page.evaluate(() => {
    const w = window as unknown as BarePage;
    w.vm = w.createVM({
      image: '/images/default/manifest.json',
      snapshotUrl: '/snapshots/tutorial.tabvm',
      container: document.getElementById('vm'),
    });
    w.states = [];
    w.vm.on('state', (state) => w.states.push(state));
  });
  const first = await page.evaluate(
    (timeout) => (window as unknown as BarePage).vm.run('echo $((6*7)); pwd', { timeout }),
    BOOT_TIMEOUT,
  );
  expect(first).toEqual({ output: '42\n/root\n', exitCode: 0 });
  expect(await page.evaluate(() => (window as unknown as BarePage).states)).toEqual([
    'downloading',
    'booting',
    'ready',
  ]);
  // Not booted: no firmware or kernel messages; the prompt is shown once, and the setup line never.
  const shown = await page.evaluate(() => (window as unknown as BarePage).vm.output);
  expect(shown).not.toContain('OpenSBI');
  expect(shown).not.toContain('PS1');
  expect(shown).toContain('root@tabvm:~# echo $((6*7)); pwd\r\n42\r\n/root\r\n');
  expect(shown.split('root@tabvm:~# ').length - 1).toBe(2);
  await expect(page.locator('#vm .xterm-rows')).toContainText('root@tabvm:~# echo $((6*7)); pwd');

  const results = await page.evaluate(async () => {
    const w = window as unknown as BarePage;
    const out: unknown[] = [];
    out.push(await w.vm.run('echo before > /root/f; cd /tmp'));
    w.file = await w.vm.snapshot();
    out.push(w.file.length > 1 << 20, String.fromCharCode(...w.file.subarray(0, 8)));
    out.push(await w.vm.run('rm /root/f; cd /; cat /root/f'));
    await w.vm.restore();
    out.push(w.vm.state);
    out.push(await w.vm.run('cat /root/f; pwd'));
    out.push(await w.vm.run('sh -c "exit 5"'));
    // restore(bytes) takes a file, here the same one once more, after another change.
    await w.vm.run('echo after > /root/f');
    await w.vm.restore(w.file);
    out.push(await w.vm.run('cat /root/f'));
    return out;
  });
  expect(results).toEqual([
    { output: '', exitCode: 0 },
    true,
    'TABVMSNP',
    { output: "cat: can't open '/root/f': No such file or directory\n", exitCode: 1 },
    'ready',
    { output: 'before\n/tmp\n', exitCode: 0 },
    { output: '', exitCode: 5 },
    { output: 'before\n', exitCode: 0 },
  ]);
  expect(await page.evaluate(() => (window as unknown as BarePage).vm.output)).not.toContain('PS1');

  // A file from a restore is a full, standalone snapshot: another VM starts from it alone.
  const second = await page.evaluate(async (timeout) => {
    const w = window as unknown as BarePage;
    const other = w.createVM({ image: '/images/default/manifest.json' });
    await other.restore(w.file);
    const result = await other.run('cat /root/f', { timeout });
    return { result, state: other.state };
  }, BOOT_TIMEOUT);
  expect(second).toEqual({ result: { output: 'before\n', exitCode: 0 }, state: 'ready' });
});

test('a snapshot URL that is missing or damaged puts the VM in the error state with the reason', async ({ page }) => {
  await page.goto(`${origin}/bare`);
  await expect.poll(() => page.evaluate(() => typeof (window as unknown as BarePage).createVM)).toBe('function');
  const failures = await page.evaluate(
    async ({ urls, timeout }) => {
      const w = window as unknown as BarePage;
      const out: { state: string; error?: string; rejected: string }[] = [];
      for (const snapshotUrl of urls) {
        const vm = w.createVM({ image: '/images/default/manifest.json', snapshotUrl });
        const rejected = await vm.start({ timeout }).then(
          () => 'resolved',
          (error: Error) => error.message,
        );
        out.push({ state: vm.state, error: vm.error, rejected });
      }
      return out;
    },
    { urls: ['/snapshots/no-such.tabvm', CORRUPT_SNAPSHOT], timeout: BOOT_TIMEOUT },
  );
  expect(failures[0]).toEqual({
    state: 'error',
    error: 'snapshot /snapshots/no-such.tabvm could not be fetched: HTTP 404',
    rejected: 'start(): snapshot /snapshots/no-such.tabvm could not be fetched: HTTP 404',
  });
  expect(failures[1]!.state).toBe('error');
  expect(failures[1]!.error).toMatch(/^snapshot \/corrupt\.tabvm: .*corrupted/);
  expect(failures[1]!.rejected).toBe(`start(): ${failures[1]!.error}`);

  // A good snapshot with an image manifest that is not there: the image's download error.
  const noImage = await page.evaluate(async (timeout) => {
    const vm = (window as unknown as BarePage).createVM({
      image: '/images/none/manifest.json',
      snapshotUrl: '/snapshots/tutorial.tabvm',
    });
    const rejected = await vm.start({ timeout }).then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    return { state: vm.state, error: vm.error, rejected };
  }, BOOT_TIMEOUT);
  expect(noImage.state).toBe('error');
  expect(noImage.error).toContain('/images/none/manifest.json');
  expect(noImage.rejected).toBe(`start(): ${noImage.error}`);
});
