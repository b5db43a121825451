// The guest side of networking end to end, without the user-mode network: the default image boots with a
// virtio-net card whose link is plugged into a scripted peer (tests/gateway-peer.ts: ARP for 10.0.2.2
// and ICMP echo, as QEMU's user network does for its gateway, and optionally DHCP). The guest is
// configured by hand and pings the peer; frames of a bad length from the peer are dropped without harm; a
// snapshot restores with the card's address, the guest's address and a link that is up; and the image
// configures eth0 by DHCP at boot.
import { describe, expect, it } from 'vitest';
import { GUEST_MAC, netVmFiles, PROMPT, root, runMarked } from './net-vm.ts';
import { resolve } from 'node:path';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import { GatewayPeer } from './gateway-peer.ts';
import { readFileSync } from 'node:fs';
import { TextConsole } from '../scripts/lib/console-session.ts';
import { VmRuntime } from '../workers/runtime/vm-runtime.ts';
import { createVmChannels } from '../workers/protocol/vm-channels.ts';
import { serveDisks } from '../workers/protocol/disk-channel.ts';
import { plugNetwork } from '../workers/protocol/net-link.ts';
import type { ByteStream } from '../workers/protocol/channels.ts';
import type { VmHalt } from '../workers/protocol/vm-api.ts';

/** Types `command` and returns what it printed, up to `marker` (which the command echoes at its end). */
const run = (con: NodeVmConsole, command: string, marker: string, from: number): Promise<[string, number]> =>
  runMarked(con, command, marker, from, 120_000);

describe('virtio-net with a scripted peer', () => {
  it('pings 10.0.2.2 from a guest configured by hand; bad frames from the peer are dropped harmlessly', async () => {
    const peer = new GatewayPeer();
    const vm = new NodeVm(netVmFiles(), undefined, { onNetwork: peer.hook });
    try {
      const con = new NodeVmConsole(vm);
      let at = await con.waitFor(PROMPT, 240_000);
      let out: string;
      [out, at] = await run(
        con,
        'killall udhcpc 2>/dev/null; ip addr flush dev eth0; ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ' +
          'sleep 1; cat /sys/class/net/eth0/address /sys/class/net/eth0/carrier; ping -c 3 -W 5 10.0.2.2',
        'PING',
        at,
      );
      expect(out).toContain(`${GUEST_MAC}\n1\n`);
      expect(out).toMatch(/3 packets transmitted, 3 packets received, 0% packet loss/);
      expect(peer.arpReplies).toBeGreaterThanOrEqual(1);
      expect(peer.echoReplies).toBe(3);

      // A runt, a frame longer than Ethernet allows and an empty one: the card drops them, the guest never sees them.
      [out, at] = await run(con, 'cat /sys/class/net/eth0/statistics/rx_packets', 'BEFORE', at);
      const before = Number(out.trim());
      peer.toGuest!.receive(new Uint8Array(5));
      peer.toGuest!.receive(new Uint8Array(4000).fill(0xff));
      peer.toGuest!.receive(new Uint8Array(0));
      [out, at] = await run(con, 'sleep 1; cat /sys/class/net/eth0/statistics/rx_packets', 'AFTER', at);
      expect(Number(out.trim())).toBe(before);
      [out, at] = await run(con, 'ping -c 2 -W 5 10.0.2.2', 'AGAIN', at);
      expect(out).toMatch(/2 packets transmitted, 2 packets received/);
      expect(vm.netDropped).toBe(0);
      con.type('poweroff\n');
      expect(await vm.ended).toEqual({ kind: 'halted', exitCode: 0 });
    } finally {
      await vm.terminate();
    }
  }, 400_000);

  it('brings eth0 up at boot by DHCP: address, default route and resolver', async () => {
    const peer = new GatewayPeer(true);
    const vm = new NodeVm(netVmFiles(), undefined, { onNetwork: peer.hook });
    try {
      const con = new NodeVmConsole(vm);
      const at = await con.waitFor(PROMPT, 240_000);
      const [out] = await run(
        con,
        'for i in $(seq 60); do ip -o -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 1; done; ' +
          'ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf; ping -c 1 -W 5 10.0.2.2',
        'DHCP',
        at,
      );
      expect(out).toContain('inet 10.0.2.15/24');
      expect(out).toMatch(/default via 10\.0\.2\.2 dev eth0/);
      expect(out).toContain('nameserver 10.0.2.3');
      expect(out).toMatch(/1 packets received/);
      expect(peer.dhcpAcks).toBeGreaterThanOrEqual(1);
    } finally {
      await vm.terminate();
    }
  }, 400_000);

  it('restores from a snapshot with its address, the guest keeping its IP address, and the link up', async () => {
    let snapshot: Uint8Array;
    const first = new NodeVm(netVmFiles(), undefined, { onNetwork: new GatewayPeer().hook });
    try {
      const con = new NodeVmConsole(first);
      const at = await con.waitFor(PROMPT, 240_000);
      const [out] = await run(
        con,
        'killall udhcpc 2>/dev/null; ip addr flush dev eth0; ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ' +
          'sleep 1; ping -c 1 -W 5 10.0.2.2',
        'UP',
        at,
      );
      expect(out).toMatch(/1 packets received/);
      snapshot = await first.snapshot();
    } finally {
      await first.terminate();
    }
    const peer = new GatewayPeer();
    // The same card address (as `npm run vm` restores); another would have the guest agent re-address the
    // guest and lease again (tests/debian.test.ts, docs/guest-agent.md), which this scripted peer cannot serve.
    const second = new NodeVm(
      netVmFiles(),
      await decodeSnapshotFile(snapshot),
      { onNetwork: peer.hook },
    );
    try {
      const con = new NodeVmConsole(second);
      const [out] = await run(
        con,
        'ip addr show eth0; cat /sys/class/net/eth0/carrier; ping -c 2 -W 5 10.0.2.2',
        'RESTORED',
        0,
      );
      expect(out).toContain('inet 10.0.2.15/24');
      expect(out).toContain(`link/ether ${GUEST_MAC}`);
      expect(out).toMatch(/\n1\n/);
      expect(out).toMatch(/2 packets transmitted, 2 packets received/);
      expect(peer.echoReplies).toBe(2);
    } finally {
      await second.terminate();
    }
  }, 400_000);
});

/** A console over the runtime's console channel, on this thread (as the page's compatibility mode). */
class StreamConsole extends TextConsole {
  ended = false;
  constructor(readonly stream: ByteStream) {
    super();
    const decoder = new TextDecoder('latin1');
    stream.listen((bytes) => this.append(decoder.decode(bytes)));
  }
  get exited(): boolean {
    return this.ended;
  }
  type(text: string): void {
    expect(this.stream.write(new TextEncoder().encode(text))).toBe(text.length);
  }
}

describe('virtio-net in the message mode (the browser without cross-origin isolation)', () => {
  it('gets its address by DHCP at boot and pings, the runtime hosted on this thread', async () => {
    const { bios, kernel, initrd, bootargs } = resolveVmFiles({}, resolve(root, 'public/images'));
    // Guest RAM is not shared in the message mode, so the core is the build whose memory import is not.
    const coreModule = new WebAssembly.Module(readFileSync(resolve(root, 'workers/cpu/build/core-unshared.wasm')));
    const channels = createVmChannels('message', { net: true });
    const con = new StreamConsole(channels.console);
    const peer = new GatewayPeer(true);
    const plug = plugNetwork(channels.net!, peer.hook);
    serveDisks(channels.disks, { writes: () => Promise.resolve(), status() {} });
    let halted!: (halt: VmHalt) => void;
    const halt = new Promise<VmHalt>((r) => (halted = r));
    const runtime = await VmRuntime.boot(
      {
        ramBytes: 128 << 20,
        bootargs,
        bios,
        ...(kernel ? { kernel } : {}),
        ...(initrd ? { initrd } : {}),
        channels: channels.wires,
        disks: [],
        net: { mac: GUEST_MAC },
      },
      { coreModule, events: { rebooted() {}, halted: (h) => halted(h) }, log: () => {} },
    );
    try {
      const at = await con.waitFor(PROMPT, 300_000);
      con.type(
        'for i in $(seq 60); do ip -o -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 1; done; ' +
          'ip -o -4 addr show eth0; ping -c 3 -W 5 10.0.2.2; echo END-$((6*7))\n',
      );
      const end = await con.waitFor('END-42', 180_000, at);
      const out = con.output.slice(at, end);
      expect(out).toContain('inet 10.0.2.15/24');
      expect(out).toMatch(/3 packets transmitted, 3 packets received/);
      expect(peer.echoReplies).toBe(3);
      con.type('poweroff\n');
      expect(await halt).toEqual({ reason: 'poweroff', exitCode: 0 });
    } finally {
      runtime.powerOff();
      plug.unplug();
      channels.close();
    }
  }, 400_000);
});
