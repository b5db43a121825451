/**
 * How every Chromium of the tests and benchmarks is launched: Debian's own (Playwright cannot download
 * browsers here), without the sandbox (root in CI), the GPU, or the background traffic and first-run
 * work that would add load to what is measured.
 */
export const CHROMIUM_LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
};
