// Frames of a real guest: the default image under QEMU 7.2 with `-netdev user` and `-object filter-dump`
// (fixtures/linux-session.pcap: busybox udhcpc at boot, ping -c 2 10.0.2.2, nslookup at 10.0.2.3, wget of
// 3000 bytes from 10.0.2.2), both directions. Every frame, Linux's and slirp's, must pass the codecs; the
// guest's own frames replayed into UserNetwork must get the answers slirp gave.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  ipv4ToString,
  macToString,
  parseArp,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseTcp,
  parseUdp,
  TCP_SYN,
} from './frames.ts';
import { parseDhcp } from './dhcp.ts';
import { parseDnsQuery } from './dns.ts';
import { MemorySockets } from './test-support/memory-sockets.ts';
import { ScriptedGuest } from './test-support/scripted-guest.ts';
import { UserNetwork } from './user-network.ts';

const GUEST_MAC = '52:54:00:12:34:56';

/** The frames of a pcap file (libpcap format, microsecond or nanosecond, either byte order). */
function readPcap(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, true);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && view.getUint32(0, false) !== 0xa1b2c3d4 && view.getUint32(0, false) !== 0xa1b23c4d) {
    throw new Error('not a pcap file');
  }
  if (view.getUint32(20, little) !== 1) throw new Error('not an Ethernet capture');
  const frames: Uint8Array[] = [];
  for (let at = 24; at + 16 <= file.length;) {
    const length = view.getUint32(at + 8, little);
    if (at + 16 + length > file.length) throw new Error('pcap record past the end of the file');
    frames.push(file.subarray(at + 16, at + 16 + length));
    at += 16 + length;
  }
  return frames;
}

const frames = readPcap(new Uint8Array(readFileSync(new URL('./fixtures/linux-session.pcap', import.meta.url))));

describe('frames captured from Linux and slirp', () => {
  it('all parse, checksums included, at every layer', () => {
    const seen = new Set<string>();
    for (const frame of frames) {
      const ethernet = parseEthernet(frame);
      if (typeof ethernet === 'string') throw new Error(ethernet);
      if (ethernet.etherType === ETHERTYPE_IPV6) continue; // Linux's router solicitations: dropped by the network
      if (ethernet.etherType === ETHERTYPE_ARP) {
        expect(parseArp(ethernet.payload)).not.toBeTypeOf('string');
        seen.add('arp');
        continue;
      }
      expect(ethernet.etherType).toBe(ETHERTYPE_IPV4);
      const ip = parseIpv4(ethernet.payload);
      if (typeof ip === 'string') throw new Error(ip);
      if (ip.protocol === IP_PROTOCOL_UDP) {
        const udp = parseUdp(ip);
        if (typeof udp === 'string') throw new Error(udp);
        if (udp.destinationPort === 67) {
          const dhcp = parseDhcp(udp.payload);
          if (typeof dhcp === 'string') throw new Error(dhcp);
          expect(macToString(dhcp.clientMac)).toBe(GUEST_MAC);
          seen.add(`dhcp ${dhcp.messageType}`);
        }
        if (udp.destinationPort === 53) {
          const query = parseDnsQuery(udp.payload);
          if (typeof query === 'string') throw new Error(query);
          seen.add(`dns ${query.name}`);
        }
      } else if (ip.protocol === IP_PROTOCOL_TCP) {
        const tcp = parseTcp(ip);
        if (typeof tcp === 'string') throw new Error(tcp);
        if (tcp.flags & TCP_SYN && macToString(ethernet.source) === GUEST_MAC) {
          // Linux's SYN: MSS, SACK-permitted, timestamps, window scale.
          expect(tcp.mss).toBe(1460);
          expect(tcp.windowScale).toBeGreaterThan(0);
          seen.add('syn');
        }
      } else {
        expect(ip.protocol).toBe(IP_PROTOCOL_ICMP);
        expect(parseIcmp(ip.payload)).not.toBeTypeOf('string');
        seen.add('icmp');
      }
    }
    expect([...seen].sort()).toEqual(['arp', 'dhcp 1', 'dhcp 3', 'dns localhost', 'icmp', 'syn']);
  });

  it('replayed into UserNetwork, the guest’s frames get a lease, ARP, echo, DNS and SYN-ACK answers', async () => {
    const guest = new ScriptedGuest(Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56));
    const sockets = new MemorySockets();
    sockets.listeners.set(0, () => {});
    const network = new UserNetwork(guest, {
      provider: {
        connect: (_address, _port, events) => sockets.connect(0, 0, events),
        openUdp: (events) => sockets.openUdp(events),
      },
      resolver: { resolve4: () => Promise.resolve([0x7f000001]) },
    });
    try {
      for (const frame of frames) {
        const ethernet = parseEthernet(frame);
        if (typeof ethernet !== 'string' && macToString(ethernet.source) === GUEST_MAC) network.receive(frame);
      }
      await guest.until(() => guest.frames.length >= 8, 5000, 'the answers');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const answers = new Set<string>();
      for (const frame of guest.frames) {
        const ethernet = parseEthernet(frame);
        if (typeof ethernet === 'string') throw new Error(ethernet);
        if (ethernet.etherType === ETHERTYPE_ARP) answers.add('arp reply');
        const ip =
          typeof ethernet !== 'string' && ethernet.etherType === ETHERTYPE_IPV4
            ? parseIpv4(ethernet.payload)
            : undefined;
        if (!ip || typeof ip === 'string') continue;
        if (ip.protocol === IP_PROTOCOL_ICMP) answers.add(`echo reply from ${ipv4ToString(ip.source)}`);
        if (ip.protocol === IP_PROTOCOL_UDP) {
          const udp = parseUdp(ip);
          if (typeof udp === 'string') throw new Error(udp);
          if (udp.sourcePort === 67)
            answers.add(
              `dhcp ${udp.payload[242]} for ${ipv4ToString(new DataView(udp.payload.buffer, udp.payload.byteOffset).getUint32(16))}`,
            );
          if (udp.sourcePort === 53) answers.add(`dns rcode ${udp.payload[3]! & 0x0f}`);
        }
        if (ip.protocol === IP_PROTOCOL_TCP) {
          const tcp = parseTcp(ip);
          if (typeof tcp === 'string') throw new Error(tcp);
          if (tcp.flags & TCP_SYN) answers.add(`syn-ack mss ${tcp.mss} scale ${tcp.windowScale}`);
        }
      }
      expect([...answers].sort()).toEqual([
        'arp reply',
        'dhcp 2 for 10.0.2.15',
        'dhcp 5 for 10.0.2.15',
        'dns rcode 0',
        'echo reply from 10.0.2.2',
        'syn-ack mss 1460 scale 0',
      ]);
      expect([...network.drops.keys()].filter((reason) => !reason.startsWith('IPv6'))).toEqual([]);
    } finally {
      network.reset();
    }
  });
});
