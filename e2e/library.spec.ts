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
];
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

let server: Server;
let origin: string;

test.beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    // Cross-origin isolated, as a tutorial site that can send headers would be.
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    if (path === '/') {
      res.setHeader('Content-Type', 'text/html');
      res.end(PAGE);
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
