// The guest side of networking end to end, without the user-mode network: the default image boots with a
// virtio-net card whose link is plugged into a scripted peer (a few lines below that answer ARP for
// 10.0.2.2 and ICMP echo, as QEMU's user network does for its gateway, and optionally DHCP). The guest is
// configured by hand and pings the peer; frames of a bad length from the peer are dropped without harm; a
// snapshot restores with the card's address, the guest's address and a link that is up; and the image
// configures eth0 by DHCP at boot.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles, type VmFiles } from '../scripts/lib/vm-options.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import type { FrameReceiver, NetworkHook } from '../workers/protocol/net-link.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';
const GUEST_MAC = '52:54:00:12:34:56';
/** QEMU's user network answers for 10.0.2.2 from this address. */
const GATEWAY_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);
const GATEWAY_IP = Uint8Array.of(10, 0, 2, 2);
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV4 = 0x0800;
const BROADCAST_MAC = new Uint8Array(6).fill(0xff);
/** RFC 2131 §3: the magic cookie that starts a DHCP message's options. */
const DHCP_COOKIE = [99, 130, 83, 99];

/** The Internet checksum (RFC 1071) of `bytes`. */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * A peer that answers ARP requests for 10.0.2.2 and ICMP echo requests to it, and with `dhcp` offers and
 * acknowledges 10.0.2.15 (router 10.0.2.2, DNS 10.0.2.3) as QEMU's user network does; it counts what it answered.
 */
class GatewayPeer {
  toGuest: FrameReceiver | undefined;
  arpReplies = 0;
  echoReplies = 0;
  dhcpAcks = 0;

  constructor(private readonly dhcp = false) {}

  readonly hook: NetworkHook = ({ toGuest }) => {
    this.toGuest = toGuest;
    return { receive: (frame) => this.#receive(frame) };
  };

  #receive(frame: Uint8Array): void {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const type = view.getUint16(12);
    if (type === ETHERTYPE_ARP && view.getUint16(20) === 1 && sameBytes(frame.subarray(38, 42), GATEWAY_IP)) {
      const reply = frame.slice(0, 42);
      reply.set(frame.subarray(6, 12), 0); // to the asker
      reply.set(GATEWAY_MAC, 6);
      reply[21] = 2; // ARP reply
      reply.set(GATEWAY_MAC, 22); // sender: the gateway
      reply.set(GATEWAY_IP, 28);
      reply.set(frame.subarray(22, 32), 32); // target: the asker's MAC and IP
      this.arpReplies++;
      this.toGuest!.receive(reply);
      return;
    }
    const ihl = (frame[14]! & 0xf) * 4;
    if (this.dhcp && type === ETHERTYPE_IPV4 && frame[23] === 17 && view.getUint16(14 + ihl + 2) === 67) {
      this.#answerDhcp(frame.subarray(14 + ihl + 8));
      return;
    }
    if (type !== ETHERTYPE_IPV4 || frame[23] !== 1 || !sameBytes(frame.subarray(30, 34), GATEWAY_IP)) return;
    if (frame[14 + ihl] !== 8) return; // ICMP echo request
    const reply = frame.slice();
    reply.set(frame.subarray(6, 12), 0);
    reply.set(GATEWAY_MAC, 6);
    reply.set(frame.subarray(30, 34), 26); // swap the addresses (the IP header's checksum stays right)
    reply.set(frame.subarray(26, 30), 30);
    const ipLength = view.getUint16(16);
    const icmp = reply.subarray(14 + ihl, 14 + ipLength);
    icmp[0] = 0; // echo reply
    icmp[2] = icmp[3] = 0;
    const sum = checksum(icmp);
    icmp[2] = sum >> 8;
    icmp[3] = sum & 0xff;
    this.echoReplies++;
    this.toGuest!.receive(reply);
  }

  /** RFC 2131: DISCOVER gets an OFFER, REQUEST an ACK, both broadcast from 10.0.2.2 (UDP 67 → 68). */
  #answerDhcp(request: Uint8Array): void {
    const options = request.subarray(240);
    let kind = 0;
    for (let i = 0; i < options.length && options[i] !== 255; i += options[i] === 0 ? 1 : 2 + options[i + 1]!)
      if (options[i] === 53) kind = options[i + 2]!;
    if (kind !== 1 && kind !== 3) return;
    const reply = new Uint8Array(240);
    reply.set([2, 1, 6, 0]); // BOOTREPLY, Ethernet, 6-byte addresses, no hops
    reply.set(request.subarray(4, 8), 4); // xid
    reply.set([10, 0, 2, 15], 16); // yiaddr
    reply.set(GATEWAY_IP, 20); // siaddr
    reply.set(request.subarray(28, 44), 28); // chaddr
    reply.set(DHCP_COOKIE, 236);
    const dhcpOptions = [
      ...[53, 1, kind === 1 ? 2 : 5], // OFFER or ACK
      ...[54, 4, ...GATEWAY_IP], // server identifier
      ...[51, 4, 0, 1, 0x51, 0x80], // lease: 86400 s
      ...[1, 4, 255, 255, 255, 0], // subnet mask
      ...[3, 4, ...GATEWAY_IP], // router
      ...[6, 4, 10, 0, 2, 3], // DNS server
      255,
    ];
    const payload = Uint8Array.of(...reply, ...dhcpOptions);
    const udp = new Uint8Array(8 + payload.length);
    const udpView = new DataView(udp.buffer);
    udpView.setUint16(0, 67);
    udpView.setUint16(2, 68);
    udpView.setUint16(4, udp.length); // checksum 0: none (RFC 768)
    udp.set(payload, 8);
    const ip = new Uint8Array(20);
    const ipView = new DataView(ip.buffer);
    ip.set([0x45, 0]);
    ipView.setUint16(2, 20 + udp.length);
    ip.set([64, 17], 8); // TTL, UDP
    ip.set(GATEWAY_IP, 12);
    ip.set([255, 255, 255, 255], 16);
    ipView.setUint16(10, checksum(ip));
    if (kind === 3) this.dhcpAcks++;
    this.toGuest!.receive(Uint8Array.of(...BROADCAST_MAC, ...GATEWAY_MAC, 0x08, 0x00, ...ip, ...udp));
  }
}

function files(): VmFiles {
  return { ...resolveVmFiles({ mem: '128M' }, resolve(root, 'public/images')), net: { mac: GUEST_MAC } };
}

/** Types `command` and returns what it printed, up to `marker` (which the command echoes at its end). */
async function run(con: NodeVmConsole, command: string, marker: string, from: number): Promise<[string, number]> {
  con.type(`${command}; echo ${marker}-$((6*7))\n`);
  const end = await con.waitFor(`${marker}-42`, 120_000, from);
  const start = con.output.indexOf('\n', from) + 1;
  return [con.output.slice(start, end).replace(/\r/g, ''), await con.waitFor(PROMPT, 30_000, end)];
}

describe('virtio-net with a scripted peer', () => {
  it('pings 10.0.2.2 from a guest configured by hand; bad frames from the peer are dropped harmlessly', async () => {
    const peer = new GatewayPeer();
    const vm = new NodeVm(files(), undefined, peer.hook);
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
    const vm = new NodeVm(files(), undefined, peer.hook);
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
    const first = new NodeVm(files(), undefined, new GatewayPeer().hook);
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
    // Another address on the command line: the restored card keeps the one its guest booted with.
    const second = new NodeVm(
      { ...files(), net: { mac: '52:54:00:65:43:21' } },
      await decodeSnapshotFile(snapshot),
      peer.hook,
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
