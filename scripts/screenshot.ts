/**
 * `npm run screenshot` — remakes docs/screenshot.png, the README's picture of the app.
 *
 * Serves the built app (`npm run build` first; the npm script does) with `vite preview` on --port,
 * opens it in Debian's Chromium at 1280×800, creates a VM on the default image in the New VM dialog,
 * starts it, waits for the shell prompt, runs two commands as a person types them, and saves the page.
 */
import { chromium, type Page } from '@playwright/test';
import { spawn } from 'node:child_process';
import { Command } from 'commander';

const options = new Command()
  .description('Remake docs/screenshot.png from the built app')
  .option('--port <port>', 'port for vite preview', '4350')
  .option('--out <file>', 'where to save the picture', 'docs/screenshot.png')
  .parse()
  .opts<{ port: string; out: string }>();

const url = `http://localhost:${options.port}`;
const NAME = 'my-first-vm';
const COMMANDS = ['uname -a', 'grep -m1 isa /proc/cpuinfo; free -m'];
const PROMPT = /# $/;

async function waitForServer(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`vite preview did not answer at ${url} within 60 s`);
}

/** The console's visible text, as the e2e specs read it. */
async function consoleText(page: Page): Promise<string> {
  return (await page.getByTestId(`console-${NAME}`).locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ');
}

async function waitForConsole(page: Page, test: (text: string) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!test((await consoleText(page)).trimEnd() + ' ')) {
    if (Date.now() > deadline) throw new Error(`the console never showed ${what}`);
    await page.waitForTimeout(200);
  }
}

const server = spawn(
  process.execPath,
  ['node_modules/vite/bin/vite.js', 'preview', '--port', options.port, '--strictPort'],
  {
    stdio: 'ignore',
  },
);
try {
  await waitForServer();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(url);
    await page.getByRole('button', { name: 'New VM' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
    await dialog.getByLabel('Name').fill(NAME);
    await dialog.getByRole('button', { name: 'Create' }).click({ timeout: 30_000 });
    await page.getByTestId(`vm-item-${NAME}`).click();
    await page
      .getByRole('toolbar', { name: `Controls for ${NAME}` })
      .getByRole('button', { name: 'Start' })
      .click();
    await waitForConsole(page, (text) => /built-in commands[\s\S]*# $/.test(text), 'the shell prompt');
    for (const command of COMMANDS) {
      await page.getByTestId(`console-${NAME}`).click();
      await page.keyboard.type(command);
      await page.keyboard.press('Enter');
      const typed = command.slice(0, 20);
      await waitForConsole(
        page,
        (text) => text.lastIndexOf(typed) !== -1 && PROMPT.test(text.slice(text.lastIndexOf(typed))),
        `the prompt after ${command}`,
      );
    }
    await page.screenshot({ path: options.out });
    console.log(`saved ${options.out}`);
  } finally {
    await browser.close();
  }
} finally {
  server.kill();
}
