/**
 * DirectoryHandleTree in Chromium (Node has no OPFS): the backend suite every FileTree passes
 * (workers/host/9p/test-support/server-suite.ts) and the tree's own tests, bundled with vite and run
 * in a page (writes through writables) and in a dedicated worker (sync access handles).
 */
import { test, expect, type Page } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { build, type Rolldown } from 'vite';

const supportDir = fileURLToPath(new URL('../workers/host/9p/test-support/', import.meta.url));
let bundle = '';

test.beforeAll(async () => {
  const output = (await build({
    configFile: false,
    logLevel: 'warn',
    resolve: { alias: { vitest: `${supportDir}browser-vitest.ts` } },
    define: { 'process.env.NODE_ENV': '"test"' },
    build: {
      write: false,
      minify: false,
      lib: { entry: `${supportDir}handle-tree.browser.ts`, formats: ['iife'], name: 'handleTreeTests' },
    },
  })) as Rolldown.RolldownOutput[];
  bundle = output[0]!.output[0].code;
});

/** A page of the preview server's origin (a secure context, with an OPFS) that serves the bundle. */
async function openTestPage(page: Page): Promise<void> {
  await page.route('**/handle-tree-test/**', (route) =>
    route.fulfill({
      contentType: route.request().url().endsWith('.js') ? 'text/javascript' : 'text/html',
      body: route.request().url().endsWith('.js') ? bundle : '<!doctype html><title>handle tree tests</title>',
    }),
  );
  await page.goto('/handle-tree-test/');
  await page.addScriptTag({ url: '/handle-tree-test/suite.js' });
}

interface TestResult {
  name: string;
  error: string | null;
}

function expectAllPassed(results: TestResult[]): void {
  // The suite's 11 tests and the tree's own 4: none lost on the way.
  expect(results.length).toBe(15);
  expect(results.filter((r) => r.error !== null)).toEqual([]);
}

test('the backend suite passes over the OPFS in a page (writables)', async ({ page }) => {
  await openTestPage(page);
  const results = await page.evaluate(() =>
    (globalThis as unknown as { handleTreeTests: { run(): Promise<TestResult[]> } }).handleTreeTests.run(),
  );
  expectAllPassed(results);
});

test('the backend suite passes over the OPFS in a dedicated worker (sync access handles)', async ({ page }) => {
  await openTestPage(page);
  const results = await page.evaluate(async (code) => {
    const source = `${code}\nonmessage = async () => postMessage(await handleTreeTests.run());`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    const done = new Promise<TestResult[]>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<TestResult[]>) => resolve(event.data);
      worker.onerror = (event) => reject(new Error(event.message));
    });
    worker.postMessage(null);
    return done;
  }, bundle);
  expectAllPassed(results);
});

test("a file the VM's worker writes is locked against the page's writes until the guest lets go; reads go on", async ({
  page,
}) => {
  await openTestPage(page);
  const steps = await page.evaluate(async (code) => {
    interface Tree {
      hold(path: string[]): void;
      release(path: string[]): void;
      create(path: string[], mode: number): Promise<void>;
      write(path: string[], offset: number, data: Uint8Array): Promise<void>;
      read(path: string[], offset: number, length: number): Promise<Uint8Array>;
    }
    interface Tests {
      DirectoryHandleTree: new (dir: FileSystemDirectoryHandle) => Tree;
      FsError: new () => { errno: number };
      namedFolder(name: string): Promise<FileSystemDirectoryHandle>;
    }
    // The worker holds 'f' as an open fid does, writes it, and lets go when asked.
    const source = `${code}
      let tree;
      onmessage = async ({ data }) => {
        if (data === 'write') {
          tree = new handleTreeTests.DirectoryHandleTree(await handleTreeTests.namedFolder('lock'));
          await tree.create(['f'], 0o644);
          tree.hold(['f']);
          await tree.write(['f'], 0, new TextEncoder().encode('guest'));
        } else tree.release(['f']);
        postMessage(data);
      };`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    const ask = (what: string) =>
      new Promise((resolve) => {
        worker.onmessage = resolve;
        worker.postMessage(what);
      });
    const tests = (globalThis as unknown as { handleTreeTests: Tests }).handleTreeTests;
    const pageTree = new tests.DirectoryHandleTree(await tests.namedFolder('lock'));
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    const tryWrite = () =>
      pageTree.write(['f'], 0, new TextEncoder().encode('PAGE')).then(
        () => 'written',
        (e: unknown) => (e instanceof tests.FsError ? `errno ${e.errno}` : String(e)),
      );
    await ask('write');
    const steps = [text(await pageTree.read(['f'], 0, 100)), await tryWrite()];
    await ask('release');
    await new Promise((resolve) => setTimeout(resolve, 100));
    steps.push(await tryWrite(), text(await pageTree.read(['f'], 0, 100)));
    return steps;
  }, bundle);
  // EBUSY is 16.
  expect(steps).toEqual(['guest', 'errno 16', 'written', 'PAGEt']);
});
