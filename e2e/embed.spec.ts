/**
 * Embedding: the custom element on a page without COOP/COEP, run()'s exit codes, and the iframe page's
 * postMessage API with its origin allow list and Document-Isolation-Policy.
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL } from '../playwright.config.ts';
import { BOOT_TIMEOUT } from './helpers.ts';

test('<tabvm-terminal> runs in the fallback mode on a page without COOP/COEP; run() returns exit codes', async ({
  page,
}) => {
  await page.goto(`${FALLBACK_URL}/tutorial.html`);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
  const terminal = page.locator('tabvm-terminal');
  await expect(terminal).toHaveAttribute('data-mode', 'fallback');
  await page.getByTestId('run-pwd').click();
  await expect(page.getByTestId('status-pwd')).toHaveText(/^exit status 0 /, { timeout: BOOT_TIMEOUT });
  expect(await page.getByTestId('output-pwd').textContent()).toBe('/root\n');

  const results = await page.evaluate(async () => {
    // The element's API as a tutorial page's script sees it.
    const vm = document.querySelector('tabvm-terminal') as unknown as {
      run(command: string): Promise<{ output: string; exitCode: number }>;
    };
    return [await vm.run('ls /no/such/dir'), await vm.run('sh -c "exit 42"'), await vm.run('echo $((6*7))')];
  });
  expect(results).toEqual([
    { output: 'ls: /no/such/dir: No such file or directory\n', exitCode: 1 },
    { output: '', exitCode: 42 },
    { output: '42\n', exitCode: 0 },
  ]);
  // The guest's tty was told the terminal's size (a serial line cannot say it): as many rows as it shows.
  const rows = await page.locator('tabvm-terminal .xterm-rows > div').count();
  const size = await page.evaluate(() =>
    (document.querySelector('tabvm-terminal') as unknown as { run(c: string): Promise<{ output: string }> }).run(
      'stty size',
    ),
  );
  expect(size.output).toMatch(new RegExp(`^${rows} \\d+\\n$`));

  // The shared folder: the page writes a file, the guest works on it at /mnt/shared, the page reads the
  // result and lists the folder; paths that would leave the folder are refused in one sentence.
  const files = await page.evaluate(async () => {
    const vm = document.querySelector('tabvm-terminal') as unknown as {
      run(command: string): Promise<{ output: string; exitCode: number }>;
      writeFile(path: string, data: string | Uint8Array): Promise<void>;
      readFile(path: string): Promise<Uint8Array>;
      listFiles(path?: string): Promise<{ name: string; kind: string; size: number }[]>;
    };
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => 'succeeded',
        (e: Error) => `${e.name}: ${e.message}`,
      );
    await vm.writeFile('in/poem.txt', 'one two three four\n');
    await vm.writeFile('bytes.bin', new Uint8Array([0, 1, 2, 255]));
    const counted = await vm.run(
      'wc -w < /mnt/shared/in/poem.txt > /mnt/shared/count.txt; od -An -tu1 /mnt/shared/bytes.bin',
    );
    return {
      counted,
      count: new TextDecoder().decode(await vm.readFile('count.txt')),
      root: (await vm.listFiles()).map(({ name, kind, size }) => ({ name, kind, size })),
      inner: (await vm.listFiles('in')).map(({ name, size }) => ({ name, size })),
      escape: await failure(vm.readFile('../../etc/passwd')),
      absolute: await failure(vm.writeFile('/etc/passwd', 'x')),
      missing: await failure(vm.readFile('nothing.txt')),
    };
  });
  expect(files.counted).toEqual({ output: expect.stringMatching(/^ +0 +1 +2 +255\n$/), exitCode: 0 });
  expect(files.count).toBe('4\n');
  expect(files.root).toEqual([
    { name: 'bytes.bin', kind: 'file', size: 4 },
    { name: 'count.txt', kind: 'file', size: 2 },
    { name: 'in', kind: 'directory', size: 0 },
  ]);
  expect(files.inner).toEqual([{ name: 'poem.txt', size: 19 }]);
  expect(files.escape).toMatch(
    /^TabvmError: readFile\(\): "..\/..\/etc\/passwd" must name a place inside the shared folder/,
  );
  expect(files.absolute).toMatch(/^TabvmError: writeFile\(\): "\/etc\/passwd" is absolute/);
  expect(files.missing).toBe('TabvmError: readFile(): nothing.txt: there is no such file or directory');
});

test('embed.html is cross-origin isolated by Document-Isolation-Policy where the site sends no COOP/COEP', async ({
  page,
}) => {
  const response = await page.goto(`${FALLBACK_URL}/embed.html`);
  expect(response!.headers()['cross-origin-opener-policy']).toBeUndefined();
  expect(response!.headers()['document-isolation-policy']).toBe('isolate-and-require-corp');
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  await expect(page.locator('tabvm-terminal')).toHaveAttribute('data-mode', 'shared');
});

/**
 * The tutorial page is on another origin than the iframe (localhost): 127.0.0.1, on the server without
 * COOP/COEP (a COEP page could not frame embed.html, which sends no CORP there). A real response from a
 * loopback server is needed: Chromium's Local Network Access checks refuse to let a page of unknown
 * address space (one fulfilled by page.route) frame localhost.
 */
const HOST_ORIGIN = FALLBACK_URL.replace('localhost', '127.0.0.1');

/** Turns a page of `hostOrigin` (the app's start page, which starts no VM) into a host of embed.html. */
/** Sends a message to the iframe through the host page's `call` and resolves with the iframe's answer. */
function caller(page: Page): (message: object) => Promise<unknown> {
  return (message) =>
    page.evaluate((m) => (window as unknown as { call(m: object): Promise<unknown> }).call(m), message);
}

/** Waits until the iframe has said `tabvm:ready` to the host page. */
async function untilReady(page: Page): Promise<void> {
  await expect
    .poll(() =>
      page.evaluate(() =>
        (window as unknown as { received: { data: { type: string } }[] }).received.map((m) => m.data.type),
      ),
    )
    .toContain('tabvm:ready');
}

async function hostPage(page: Page, hostOrigin: string, allow: string, snapshot?: string): Promise<void> {
  await page.goto(`${hostOrigin}/`);
  const src = `${FALLBACK_URL}/embed.html?allow=${encodeURIComponent(allow)}${snapshot ? `&snapshot=${encodeURIComponent(snapshot)}` : ''}`;
  await page.evaluate(
    ({ src, target }) => {
      const host = window as unknown as { received: unknown[]; call(message: object): Promise<unknown> };
      host.received = [];
      window.addEventListener('message', (e) => host.received.push({ origin: e.origin, data: e.data }));
      const iframe = document.createElement('iframe');
      iframe.src = src;
      iframe.style.cssText = 'position:fixed;inset:0;width:800px;height:400px;z-index:10';
      let next = 0;
      host.call = (message) =>
        new Promise((resolve) => {
          const id = ++next;
          const onReply = (e: MessageEvent) => {
            if (e.data?.type === 'tabvm:reply' && e.data.id === id) {
              window.removeEventListener('message', onReply);
              resolve(e.data);
            }
          };
          window.addEventListener('message', onReply);
          iframe.contentWindow!.postMessage({ ...message, id }, target);
        });
      document.body.append(iframe);
    },
    { src, target: FALLBACK_URL },
  );
}

test('the iframe obeys a listed origin: run() over postMessage, replies and events to that origin', async ({
  page,
}) => {
  await hostPage(page, HOST_ORIGIN, HOST_ORIGIN);
  // The iframe says it listens (to the listed origin only) and, thanks to DIP, runs in the shared mode.
  await untilReady(page);
  const ready = await page.evaluate(() =>
    (window as unknown as { received: { origin: string; data: { type: string; mode?: string } }[] }).received.find(
      (m) => m.data.type === 'tabvm:ready',
    ),
  );
  expect(ready).toEqual({ origin: FALLBACK_URL, data: { type: 'tabvm:ready', mode: 'shared' } });

  const call = caller(page);
  expect(await call({ type: 'tabvm:start', timeout: BOOT_TIMEOUT })).toMatchObject({ ok: true, value: null });
  expect(await call({ type: 'tabvm:run', command: 'echo from-the-parent-$((6*7))' })).toMatchObject({
    ok: true,
    value: { output: 'from-the-parent-42\n', exitCode: 0 },
  });
  expect(await call({ type: 'tabvm:run', command: 'false' })).toMatchObject({
    ok: true,
    value: { output: '', exitCode: 1 },
  });
  // type() and waitFor(), with a string and with a regular expression.
  expect(await call({ type: 'tabvm:type', text: 'echo typed-$((3*3))\r' })).toMatchObject({ ok: true });
  expect(await call({ type: 'tabvm:waitFor', text: 'typed-9' })).toMatchObject({ ok: true, value: 'typed-9' });
  expect(await call({ type: 'tabvm:type', text: 'echo again-$((5*5))\r' })).toMatchObject({ ok: true });
  // The line end is part of the pattern: output arrives in pieces, and `again-\d+` alone could match "again-2".
  expect(await call({ type: 'tabvm:waitFor', regexp: { source: 'again-(\\d+)\\r?\\n', flags: '' } })).toMatchObject({
    ok: true,
    value: expect.stringMatching(/^again-25\r?\n$/),
  });
  // This iframe is a third-party one (127.0.0.1 frames localhost), whose storage Chromium denies: the
  // guest's /mnt/shared is then in its memory, and the page's file calls say why they cannot reach it.
  expect(await call({ type: 'tabvm:writeFile', path: 'hello.txt', data: 'hello\n' })).toMatchObject({
    ok: false,
    error: expect.stringContaining('writeFile(): the browser denies this page its storage'),
  });
  expect(
    await call({ type: 'tabvm:run', command: 'echo in-memory > /mnt/shared/m && cat /mnt/shared/m' }),
  ).toMatchObject({
    ok: true,
    value: { output: 'in-memory\n', exitCode: 0 },
  });
  // A malformed request from a listed origin gets an error reply naming the problem.
  expect(await call({ type: 'tabvm:run', command: 42 })).toMatchObject({
    ok: false,
    error: expect.stringContaining('command'),
  });
  const events = await page.evaluate(() =>
    (window as unknown as { received: { data: { type: string; state?: string; text?: string } }[] }).received.map(
      (m) => m.data,
    ),
  );
  expect(events).toContainEqual({ type: 'tabvm:state', state: 'ready' });
  expect(
    events
      .filter((e) => e.type === 'tabvm:output')
      .map((e) => e.text)
      .join(''),
  ).toContain('from-the-parent-42');
});

test('tabvm:writeFile, tabvm:readFile and tabvm:listFiles reach the shared folder of a first-party iframe', async ({
  page,
}) => {
  await hostPage(page, FALLBACK_URL, FALLBACK_URL);
  const call = caller(page);
  await untilReady(page);
  // A file before the VM starts, read by the guest once it runs.
  expect(await call({ type: 'tabvm:writeFile', path: 'hello.txt', data: 'hello from the parent\n' })).toMatchObject({
    ok: true,
    value: null,
  });
  expect(await call({ type: 'tabvm:start', timeout: BOOT_TIMEOUT })).toMatchObject({ ok: true, value: null });
  expect(
    await call({ type: 'tabvm:run', command: 'tr a-z A-Z < /mnt/shared/hello.txt > /mnt/shared/loud.txt' }),
  ).toMatchObject({ ok: true, value: { exitCode: 0 } });
  const loud = await page.evaluate(async () => {
    const host = window as unknown as { call(m: object): Promise<{ ok: boolean; value: unknown }> };
    const reply = await host.call({ type: 'tabvm:readFile', path: 'loud.txt' });
    return reply.value instanceof Uint8Array ? new TextDecoder().decode(reply.value) : reply;
  });
  expect(loud).toBe('HELLO FROM THE PARENT\n');
  expect(await call({ type: 'tabvm:listFiles' })).toMatchObject({
    ok: true,
    value: [
      { name: 'hello.txt', kind: 'file', size: 22 },
      { name: 'loud.txt', kind: 'file', size: 22 },
    ],
  });
  expect(await call({ type: 'tabvm:readFile', path: '../x' })).toMatchObject({
    ok: false,
    error: expect.stringContaining('inside the shared folder'),
  });
});

test('the iframe ignores messages from an origin that is not listed', async ({ page }) => {
  const warnings: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'warning') warnings.push(message.text());
  });
  await hostPage(page, HOST_ORIGIN, 'https://tutorial.example');
  const frame = page.frameLocator('iframe');
  await expect(frame.locator('tabvm-terminal')).toHaveAttribute('data-state', 'created');
  await page.evaluate(() => {
    const target = document.querySelector('iframe')!.contentWindow!;
    target.postMessage({ type: 'tabvm:start', id: 1 }, '*');
    target.postMessage({ type: 'tabvm:type', id: 2, text: 'reboot\r' }, '*');
  });
  await expect.poll(() => warnings.filter((w) => w.includes(`ignored a message from ${HOST_ORIGIN}`)).length).toBe(2);
  // Had the start request been obeyed, the VM would have left `created` before the warning was logged.
  await expect(frame.locator('tabvm-terminal')).toHaveAttribute('data-state', 'created');
  // Nothing was announced to this page either: events go to listed origins only.
  expect(await page.evaluate(() => (window as unknown as { received: unknown[] }).received)).toEqual([]);

  // The reader can still start the VM with the element's own button, and type into its terminal.
  await frame.getByRole('button', { name: 'Start the VM' }).click();
  await expect(frame.locator('tabvm-terminal')).toHaveAttribute('data-state', 'ready', { timeout: BOOT_TIMEOUT });
  await expect(frame.getByRole('button', { name: 'Start the VM' })).toBeHidden();
  await frame.locator('tabvm-terminal').click();
  await page.keyboard.type('echo reader-$((4*4))');
  await page.keyboard.press('Enter');
  await expect(frame.locator('tabvm-terminal .xterm-rows')).toContainText('reader-16');
  expect(await page.evaluate(() => (window as unknown as { received: unknown[] }).received)).toEqual([]);
});

test('embed.html?snapshot= starts from a snapshot; tabvm:snapshot and tabvm:restore round trip over postMessage', async ({
  page,
}) => {
  await hostPage(page, HOST_ORIGIN, HOST_ORIGIN, 'snapshots/tutorial.tabvm');
  const frame = page.frameLocator('iframe');
  await expect(frame.locator('tabvm-terminal')).toHaveAttribute('data-state', 'created');
  const call = caller(page);
  expect(await call({ type: 'tabvm:start', timeout: BOOT_TIMEOUT })).toMatchObject({ ok: true, value: null });
  // Restored, not booted: the console shows no kernel messages, only the restore note and the prompt.
  await expect(frame.locator('tabvm-terminal .xterm-rows')).toContainText('restored snapshot "tutorial.tabvm"');
  await expect(frame.locator('tabvm-terminal .xterm-rows')).not.toContainText('OpenSBI');
  expect(await call({ type: 'tabvm:run', command: 'echo kept > /root/kept.txt' })).toMatchObject({
    ok: true,
    value: { output: '', exitCode: 0 },
  });
  const taken = await page.evaluate(async () => {
    const host = window as unknown as { call(m: object): Promise<{ ok: boolean; value: unknown }>; file: unknown };
    const reply = await host.call({ type: 'tabvm:snapshot' });
    host.file = reply.value;
    return { ok: reply.ok, isBytes: reply.value instanceof Uint8Array, size: (reply.value as Uint8Array).length };
  });
  expect(taken.ok).toBe(true);
  expect(taken.isBytes).toBe(true);
  expect(taken.size).toBeGreaterThan(1 << 20);
  expect(await call({ type: 'tabvm:run', command: 'rm /root/kept.txt' })).toMatchObject({ ok: true });
  const restored = await page.evaluate(() => {
    const host = window as unknown as { call(m: object): Promise<unknown>; file: unknown };
    return host.call({ type: 'tabvm:restore', bytes: host.file });
  });
  expect(restored).toMatchObject({ ok: true, value: null });
  expect(await call({ type: 'tabvm:run', command: 'cat /root/kept.txt' })).toMatchObject({
    ok: true,
    value: { output: 'kept\n', exitCode: 0 },
  });
  // Without bytes, the last snapshot taken is restored; bytes that are not a snapshot are refused.
  expect(await call({ type: 'tabvm:run', command: 'rm /root/kept.txt' })).toMatchObject({ ok: true });
  expect(await call({ type: 'tabvm:restore' })).toMatchObject({ ok: true });
  expect(await call({ type: 'tabvm:run', command: 'cat /root/kept.txt' })).toMatchObject({
    value: { output: 'kept\n', exitCode: 0 },
  });
  const refused = await page.evaluate(() =>
    (window as unknown as { call(m: object): Promise<unknown> }).call({
      type: 'tabvm:restore',
      bytes: new Uint8Array(100),
    }),
  );
  expect(refused).toMatchObject({ ok: false, error: expect.stringContaining('restore(): ') });
  // The VM it refused to replace carries on.
  expect(await call({ type: 'tabvm:run', command: 'echo still-$((2+2))' })).toMatchObject({
    value: { output: 'still-4\n', exitCode: 0 },
  });
});

test('tabvm:fetch returns the body of a server in the guest', async ({ page }) => {
  await hostPage(page, FALLBACK_URL, FALLBACK_URL);
  const call = caller(page);
  await untilReady(page);
  expect(await call({ type: 'tabvm:start', timeout: BOOT_TIMEOUT })).toMatchObject({ ok: true, value: null });
  // The card gets its lease from the page's network in the background from boot.
  expect(
    await call({
      type: 'tabvm:run',
      command:
        'until ip -4 addr show eth0 | grep -q inet; do sleep 1; done; mkdir -p /www && echo served-by-busybox > /www/hi.txt && httpd -p 8000 -h /www',
      timeout: BOOT_TIMEOUT,
    }),
  ).toMatchObject({ ok: true, value: { exitCode: 0 } });
  const fetched = await page.evaluate(async () => {
    const host = window as unknown as {
      call(m: object): Promise<{ ok: boolean; value?: { status: number; body: Uint8Array }; error?: string }>;
    };
    const reply = await host.call({ type: 'tabvm:fetch', port: 8000, path: '/hi.txt' });
    return reply.value ? { status: reply.value.status, body: new TextDecoder().decode(reply.value.body) } : reply;
  });
  expect(fetched).toEqual({ status: 200, body: 'served-by-busybox\n' });
  expect(await call({ type: 'tabvm:fetch', port: 8001, path: '/' })).toMatchObject({
    ok: false,
    error: 'fetch(): Nothing in the VM accepts connections on 10.0.2.15:8001.',
  });
});
