/**
 * The `net-frame` fuzz target: streams of Ethernet frames from a guest fed to a fresh UserNetwork (an
 * in-memory host with a listener on port 80 and a UDP echo on port 7). The network never refuses by
 * throwing (it drops and counts), so any exception is a finding, and so is an `internal error` drop or a
 * frame it sends that does not parse. Mutated frames get their checksums made right again most of the
 * time, so that the mutations reach the code past the checksum checks.
 */
import { internetChecksum, pseudoHeaderSum } from '../../workers/host/net/checksum.ts';
import {
  ETHERNET_HEADER_BYTES,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ipv4,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  parseArp,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseTcp,
  parseUdp,
} from '../../workers/host/net/frames.ts';
import { buildTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../workers/host/net/frames.ts';
import { MemorySockets } from '../../workers/host/net/test-support/memory-sockets.ts';
import { ScriptedGuest } from '../../workers/host/net/test-support/scripted-guest.ts';
import { DNS_ADDRESS, GATEWAY_ADDRESS, GATEWAY_MAC, UserNetwork } from '../../workers/host/net/user-network.ts';
import { concat, mutateBytes } from './mutate.ts';
import type { Random } from './random.ts';
import type { FuzzTarget } from './targets.ts';

const MAX_FRAMES = 64;
const GUEST = ipv4('10.0.2.15');
const REMOTE = ipv4('93.184.215.14');
/** The network's initial sequence numbers, fixed so that the seed's handshake completes. */
const NETWORK_ISS = 1000;

/** A frame the network sent that does not parse: a bug in its builders. */
class NetFrameBroken extends Error {
  override readonly name = 'NetFrameBroken';
}

/** A stream of frames, each behind its 16-bit big-endian length. */
function frameStream(frames: readonly Uint8Array[]): Uint8Array {
  return concat(...frames.flatMap((frame) => [Uint8Array.of(frame.length >> 8, frame.length & 0xff), frame]));
}

function splitFrames(input: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at + 2 <= input.length && frames.length < MAX_FRAMES;) {
    const length = (input[at]! << 8) | input[at + 1]!;
    frames.push(input.subarray(at + 2, Math.min(input.length, at + 2 + length)));
    at += 2 + length;
  }
  return frames;
}

/** A guest's session: ARP, DHCP, ping, DNS, UDP, and a TCP connection with data and FIN. */
function session(): Uint8Array {
  const frames: Uint8Array[] = [];
  const guest = new ScriptedGuest(Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56));
  guest.network = { receive: (frame) => frames.push(frame.slice()) };
  guest.dhcp(1);
  guest.dhcp(3, { requested: GUEST, server: GATEWAY_ADDRESS });
  guest.address = GUEST;
  guest.arpRequest(GATEWAY_ADDRESS);
  guest.ping(GATEWAY_ADDRESS, 1, 1, new Uint8Array(56).fill(7));
  const question = Uint8Array.of(
    0,
    9,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    7,
    ...Buffer.from('example'),
    3,
    111,
    114,
    103,
    0,
    0,
    1,
    0,
    1,
  );
  guest.sendUdp(DNS_ADDRESS, 33000, 53, question);
  guest.sendUdp(GATEWAY_ADDRESS, 33001, 7, Uint8Array.of(1, 2, 3));
  // A TCP connection to the listener: SYN, the handshake's ACK of the network's (fixed) ISS, data, FIN,
  // then a SYN to a closed port and a stray segment of no connection.
  const tcp = (port: number, flags: number, sequence: number, payload = new Uint8Array(0)): number =>
    frames.push(
      buildTcp(
        GATEWAY_MAC,
        guest.mac,
        GUEST,
        REMOTE,
        {
          sourcePort: 40000,
          destinationPort: port,
          sequence,
          acknowledgment: flags & TCP_ACK ? NETWORK_ISS + 1 : 0,
          flags,
          window: 29200,
          ...(flags & TCP_SYN ? { mss: 1460, windowScale: 7 } : {}),
        },
        payload.length > 0 ? [payload] : [],
      ),
    );
  tcp(80, TCP_SYN, 5000);
  tcp(80, TCP_ACK, 5001);
  tcp(80, TCP_ACK | TCP_PSH, 5001, new Uint8Array(1000).fill(0x41));
  tcp(80, TCP_ACK | TCP_FIN, 6001);
  tcp(81, TCP_SYN, 9000);
  tcp(82, TCP_ACK, 9000);
  return frameStream(frames);
}

/** Sets the IPv4 header checksum and the TCP/UDP/ICMP checksum right, where the lengths allow. */
function fixChecksums(frame: Uint8Array): void {
  if (frame.length < ETHERNET_HEADER_BYTES + 20 || ((frame[12]! << 8) | frame[13]!) !== ETHERTYPE_IPV4) return;
  const ip = frame.subarray(ETHERNET_HEADER_BYTES);
  const view = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
  const headerBytes = (ip[0]! & 0x0f) * 4;
  const total = view.getUint16(2);
  if (headerBytes < 20 || headerBytes > total || total > ip.length) return;
  view.setUint16(10, 0);
  view.setUint16(10, internetChecksum(ip.subarray(0, headerBytes)));
  const payload = ip.subarray(headerBytes, total);
  const at = { [IP_PROTOCOL_TCP]: 16, [IP_PROTOCOL_UDP]: 6, [IP_PROTOCOL_ICMP]: 2 }[ip[9]!];
  if (at === undefined || payload.length < at + 2) return;
  const payloadView = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  payloadView.setUint16(at, 0);
  const pseudo =
    ip[9] === IP_PROTOCOL_ICMP ? 0 : pseudoHeaderSum(view.getUint32(12), view.getUint32(16), ip[9]!, payload.length);
  payloadView.setUint16(at, internetChecksum(payload, pseudo));
}

function mutateFrames(random: Random, seed: Uint8Array, seeds: readonly Uint8Array[]): Uint8Array {
  const frames = splitFrames(seed).map((frame) => frame.slice());
  switch (random.below(4)) {
    case 0: // any bytes of the stream
      return mutateBytes(random, seed, seeds);
    case 1: {
      // a flood: one frame many times (ARP, DHCP, SYNs)
      const frame = random.pick(frames);
      return frameStream(Array.from({ length: MAX_FRAMES }, () => frame));
    }
    default: {
      // one or more frames mutated, checksums made right again
      for (let round = 1 + random.below(3); round > 0; round--) {
        const i = random.below(frames.length);
        frames[i] = mutateBytes(random, frames[i]!, frames);
        if (random.chance(0.85)) fixChecksums(frames[i]!);
      }
      return frameStream(frames);
    }
  }
}

/** Checks a frame the network sent parses at every layer; throws what is wrong. */
function checkSent(frame: Uint8Array): void {
  const ethernet = parseEthernet(frame);
  if (typeof ethernet === 'string') throw new NetFrameBroken(`the network sent a bad frame: ${ethernet}`);
  if (ethernet.etherType === ETHERTYPE_ARP) {
    const arp = parseArp(ethernet.payload);
    if (typeof arp === 'string') throw new NetFrameBroken(`the network sent a bad ARP packet: ${arp}`);
    return;
  }
  const ip = parseIpv4(ethernet.payload);
  if (typeof ip === 'string') throw new NetFrameBroken(`the network sent a bad IPv4 packet: ${ip}`);
  const parsed =
    ip.protocol === IP_PROTOCOL_TCP
      ? parseTcp(ip)
      : ip.protocol === IP_PROTOCOL_UDP
        ? parseUdp(ip)
        : parseIcmp(ip.payload);
  if (typeof parsed === 'string') throw new NetFrameBroken(`the network sent a bad segment: ${parsed}`);
}

export const netFrameTarget: FuzzTarget = {
  name: 'net-frame',
  seeds: () => Promise.resolve([session()]),
  mutate: (random, seed, seeds) => Promise.resolve(mutateFrames(random, seed, seeds)),
  // The network never refuses by throwing: anything thrown is a bug.
  refusals: [],
  async run(input) {
    const sockets = new MemorySockets({ synchronous: true });
    sockets.listeners.set(80, (peer) => peer.send(new Uint8Array(4000).fill(0x42)));
    sockets.udpHandlers.set(7, (data) => data);
    let sent = 0;
    let broken: NetFrameBroken | undefined;
    const network = new UserNetwork(
      {
        receive(frame) {
          sent++;
          try {
            checkSent(frame);
          } catch (error) {
            broken ??= error as NetFrameBroken;
          }
        },
      },
      {
        provider: sockets,
        resolver: { resolve4: () => Promise.resolve([REMOTE]) },
        maxConnections: 16,
        initialSequence: () => NETWORK_ISS,
      },
    );
    try {
      for (const frame of splitFrames(input)) network.receive(frame);
      await Promise.resolve(); // the ACKs a batch of segments gets, and the DNS answers
      await Promise.resolve();
    } finally {
      network.reset();
    }
    if (broken) throw broken;
    const internal = [...network.drops.keys()].find((reason) => reason.startsWith('internal error'));
    if (internal) throw new NetFrameBroken(internal);
    return sent > 0 ? 'answered' : 'all dropped';
  },
};
