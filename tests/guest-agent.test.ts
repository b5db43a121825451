// The guest agent in the default image (docs/guest-agent.md), in the headless runner: it says hello
// over its virtio-console port, reports a server's port while it listens and not after, installs a CA
// certificate, and a VM restored from a snapshot whose clock says 2001 gets today's date from the host.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `command` at the prompt after `at`; returns its output's lines and where the next prompt is. */
async function run(con: NodeVmConsole, at: number, command: string): Promise<{ lines: string[]; at: number }> {
  con.type(`${command}; echo END-$((6*7))\n`);
  const end = await con.waitFor('END-42', 60_000, at);
  const lines = con.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
  return { lines, at: await con.waitFor(PROMPT, 10_000, end) };
}

describe('the guest agent in the default image', () => {
  it('says hello, reports a listening port and its end, installs a CA, and sets a restored guest’s clock', async () => {
    const files = resolveVmFiles({}, resolve(root, 'public/images'));
    let vm = new NodeVm(files);
    let snapshot: Uint8Array;
    try {
      const con = new NodeVmConsole(vm);
      let at = await con.waitFor(PROMPT, 240_000);
      await until(() => vm.agent.state.version === 1, 'the agent to say hello', 30_000);
      expect(vm.agent.state.ports).not.toContain(8000);
      ({ at } = await run(con, at, 'httpd -p 8000'));
      await until(() => vm.agent.state.ports.includes(8000), 'port 8000 in the agent’s ports', 30_000);
      ({ at } = await run(con, at, 'killall httpd'));
      await until(() => !vm.agent.state.ports.includes(8000), 'port 8000 to leave the agent’s ports', 30_000);
      expect(vm.agent.state.ignored).toBe(0);
      // A CA certificate lands where the image's TLS clients look (this one's body is no real certificate).
      const pem = '-----BEGIN CERTIFICATE-----\nTUlJQnRhYnZtLWFnZW50LXRlc3Q=\n-----END CERTIFICATE-----\n';
      await vm.agent.installCa(pem, 60_000);
      const ca = await run(con, at, 'cat /etc/ssl/certs/tabvm-ca.pem');
      at = ca.at;
      expect(ca.lines).toEqual(expect.arrayContaining(pem.trim().split('\n')));
      // The guest's clock goes back to 2001; the snapshot keeps it there.
      ({ at } = await run(con, at, 'date -s @1000000000 >/dev/null'));
      snapshot = await vm.snapshot();
    } finally {
      await vm.terminate();
    }
    vm = new NodeVm(files, await decodeSnapshotFile(snapshot));
    try {
      const con = new NodeVmConsole(vm);
      // The restored shell is at its prompt: type at once, after the agent set the clock.
      await until(() => vm.agent.state.version === 1, 'the restored agent to say hello again', 30_000);
      const { lines } = await run(con, 0, 'echo NOW=$(date +%s)');
      const now = Number(lines.find((line) => line.startsWith('NOW='))!.slice(4));
      expect(Math.abs(now - Date.now() / 1000)).toBeLessThan(60);
    } finally {
      await vm.terminate();
    }
  }, 600_000);
});
