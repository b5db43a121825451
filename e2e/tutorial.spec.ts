/**
 * The example tutorial: every Run button types its command into the page's VM and shows the output; the
 * snapshot and shared-folder steps call the element's API.
 */
import { test, expect } from '@playwright/test';
import { BOOT_TIMEOUT } from './helpers.ts';

/** Each step's expected output (the page's result box) and exit status, in page order. */
const STEPS: readonly { id: string; output: RegExp; exitCode: number }[] = [
  { id: 'pwd', output: /^\/root\n$/, exitCode: 0 },
  { id: 'write', output: /^\(no output\)$/, exitCode: 0 },
  { id: 'list', output: /^total \d+\n-rw-r--r-- +1 root +root +32 .* first\.txt\n$/, exitCode: 0 },
  { id: 'cat', output: /^Linux keeps everything in files\n$/, exitCode: 0 },
  { id: 'missing', output: /^cat: can't open 'missing\.txt': No such file or directory\n$/, exitCode: 1 },
  { id: 'ps', output: /^PID +USER +COMMAND\n[\s\S]* 1 root +init\n[\s\S]*sh -l\n/, exitCode: 0 },
  { id: 'background', output: /sleep is running as process \d+\n$/, exitCode: 0 },
  { id: 'find', output: /^ *\d+ root +sleep 1000\n$/, exitCode: 0 },
  { id: 'kill', output: /stopped\n/, exitCode: 0 },
  { id: 'page', output: /^\(no output\)$/, exitCode: 0 },
  { id: 'httpd', output: /^httpd is serving \/tmp\/www\n$/, exitCode: 0 },
  { id: 'fetch', output: /^<h1>Hello from inside the VM<\/h1>\n$/, exitCode: 0 },
  { id: '404', output: /404 Not Found/, exitCode: 1 },
  // The snapshot's card gets its lease from the page's network after the restore; 10.0.2.2 is the page's site.
  { id: 'web', output: /^<title>Linux in your browser[^<]*<\/title>\n$/, exitCode: 0 },
  { id: 'precious', output: /^my precious work\n$/, exitCode: 0 },
];

test("the tutorial is linked from the app, and each Run button shows its command's output", async ({ page }) => {
  await page.goto('/');
  await page.getByRole('link', { name: /Tutorial/ }).click();
  await expect(page).toHaveURL(/tutorial\.html$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Linux in your browser: a first tour');
  const terminal = page.locator('tabvm-terminal');
  await expect(terminal).toHaveAttribute('data-mode', 'shared');
  await expect(page.getByTestId('tutorial-mode')).toContainText('shared memory');
  await expect(terminal).toHaveAttribute('data-state', 'ready', { timeout: BOOT_TIMEOUT });
  // It started from the pre-booted snapshot, not by booting.
  await expect(terminal.locator('.xterm-rows')).toContainText('restored snapshot "tutorial.tabvm"');
  await expect(terminal.locator('.xterm-rows')).not.toContainText('Linux version');

  for (const step of STEPS) {
    await page.getByTestId(`run-${step.id}`).click();
    const status = page.getByTestId(`status-${step.id}`);
    await expect(status).toBeVisible();
    await expect(status).toHaveText(new RegExp(`^exit status ${step.exitCode} `));
    expect(await page.getByTestId(`output-${step.id}`).textContent(), step.id).toMatch(step.output);
  }
  await expect(terminal.locator('.xterm-rows')).toContainText(
    'root@tabvm:~/notes# wget -q -O- http://127.0.0.1:8080/nothing.html',
  );
  // The snapshot's guest agent was at work: it gave eth0 this VM's own MAC (the embed makes one per VM).
  const mac = await terminal.evaluate(async (element) => {
    const run = (element as unknown as { run(command: string): Promise<{ output: string }> }).run.bind(element);
    return (await run('cat /sys/class/net/eth0/address')).output.trim();
  });
  expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  expect(mac).not.toBe('52:54:00:12:34:56');

  // The snapshot step: take one, delete the file, restore, and the file is back.
  await page.getByTestId('run-take').click();
  await expect(page.getByTestId('status-take')).toHaveText(/^Snapshot taken \(\d+\.\d MiB\)\.$/);
  await page.getByTestId('run-mistake').click();
  await expect(page.getByTestId('status-mistake')).toHaveText(/^exit status 1 /);
  expect(await page.getByTestId('output-mistake').textContent()).toMatch(/precious\.txt: No such file or directory/);
  await page.getByTestId('run-restore').click();
  await expect(page.getByTestId('status-restore')).toHaveText('Snapshot restored.');
  await expect(terminal).toHaveAttribute('data-state', 'ready');
  await page.getByTestId('run-back').click();
  await expect(page.getByTestId('status-back')).toHaveText(/^exit status 0 /);
  expect(await page.getByTestId('output-back').textContent()).toBe('my precious work\n');

  // The shared folder step: the page writes poem.txt, the VM counts its words into count.txt, the page reads it.
  await page.getByTestId('run-poem').click();
  await expect(page.getByTestId('status-poem')).toHaveText('The page wrote /mnt/shared/poem.txt (3 lines).');
  await page.getByTestId('run-count').click();
  await expect(page.getByTestId('status-count')).toHaveText(/^exit status 0 /);
  expect(await page.getByTestId('output-count').textContent()).toBe('15\n');
  await page.getByTestId('run-answer').click();
  await expect(page.getByTestId('status-answer')).toHaveText('The VM counted 15 words in the poem.');

  // The reader sees the commands typed at the usual prompt; the status marker and its setup stay hidden.
  const shown = await terminal.evaluate((element) => (element as unknown as { vm: { output: string } }).vm.output);
  expect(shown).toContain('root@tabvm:~# pwd\r\n/root\r\n');
  expect(shown).not.toContain('PS1');
  expect(shown).not.toContain('root@tabvm:~# root@tabvm:~# ');
  // After the restore, one prompt (the restored shell's, in the directory it was in), then the command.
  expect(shown).toMatch(
    /restored snapshot "snapshot\(\)"\S*\r\n\r?\n?root@tabvm:~\/notes# cat \/root\/precious\.txt\r\n/,
  );
  expect(shown).not.toContain('\x1b]7701');
  await page.screenshot({ path: 'e2e/screenshots/20-tutorial.png', fullPage: true });
});
