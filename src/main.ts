// The browser app (VM library, consoles, snapshots) is built on the headless machine in workers/;
// until it lands the page says where the VM runs today.
const root = document.getElementById('root');
if (root) {
  root.innerHTML =
    '<main style="font-family: system-ui; max-width: 40rem; margin: 4rem auto">' +
    '<h1>tabvm</h1><p>RISC-V virtual machines in a browser tab. The in-browser console is not built yet; ' +
    'boot the default image in a terminal with <code>npm run vm</code>.</p></main>';
}
