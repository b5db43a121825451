/**
 * Codecs for the frames a guest sends on its Ethernet link: Ethernet II (IEEE 802.3 with an EtherType),
 * ARP (RFC 826), IPv4 (RFC 791), ICMP (RFC 792), UDP (RFC 768) and TCP (RFC 9293, options of RFC 7323).
 *
 * Every parser reads within the bytes it is given and allocates nothing in proportion to them: it
 * returns views into the frame, or a string saying why the frame was refused (the network counts
 * refusals by reason and never throws on a guest's bytes). The builders write a whole frame at once:
 * headers, checksums and the payload, copied once from where it lies.
 */
import { checksumValid, internetChecksum, pseudoHeaderSum } from './checksum.ts';
import { MAX_FRAME_BYTES } from './link.ts';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;

export const ETHERNET_HEADER_BYTES = 14;
export const IPV4_HEADER_BYTES = 20;
export const UDP_HEADER_BYTES = 8;
export const TCP_HEADER_BYTES = 20;
export const ICMP_HEADER_BYTES = 8;
/** The largest IPv4 packet a frame carries: the 1500-byte MTU. */
export const MTU = 1500;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** A MAC address as 6 bytes. */
export type Mac = Uint8Array;

export const BROADCAST_MAC: Mac = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/** Why a frame was refused, in a few words (the network's drop counters are keyed by it). */
export type Refusal = string;

export function macToString(mac: Mac): string {
  return Array.from(mac, (byte) => byte.toString(16).padStart(2, '0')).join(':');
}

export function macEquals(a: Mac, b: Mac): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4] && a[5] === b[5];
}

/** An IPv4 address as an unsigned 32-bit number, most significant byte first. */
export function ipv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) {
    throw new RangeError(`not an IPv4 address: ${text}`);
  }
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

export function ipv4ToString(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- Ethernet II ------------------------------------------------------------------------------------

export interface EthernetFrame {
  readonly destination: Mac;
  readonly source: Mac;
  readonly etherType: number;
  readonly payload: Uint8Array;
}

export function parseEthernet(frame: Uint8Array): EthernetFrame | Refusal {
  if (frame.byteLength < ETHERNET_HEADER_BYTES) return 'Ethernet frame shorter than its header';
  if (frame.byteLength > MAX_FRAME_BYTES) return 'Ethernet frame longer than 1518 bytes';
  const etherType = (frame[12]! << 8) | frame[13]!;
  if (etherType < 0x0600) return 'IEEE 802.3 length field instead of an EtherType';
  return {
    destination: frame.subarray(0, 6),
    source: frame.subarray(6, 12),
    etherType,
    payload: frame.subarray(ETHERNET_HEADER_BYTES),
  };
}

function writeEthernet(frame: Uint8Array, destination: Mac, source: Mac, etherType: number): void {
  frame.set(destination, 0);
  frame.set(source, 6);
  frame[12] = etherType >>> 8;
  frame[13] = etherType & 0xff;
}

// ---- ARP (RFC 826), Ethernet and IPv4 only ----------------------------------------------------------

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
const ARP_BYTES = 28;

export interface ArpPacket {
  readonly operation: number;
  readonly senderMac: Mac;
  readonly senderIp: number;
  readonly targetMac: Mac;
  readonly targetIp: number;
}

export function parseArp(packet: Uint8Array): ArpPacket | Refusal {
  if (packet.byteLength < ARP_BYTES) return 'ARP packet truncated';
  const view = viewOf(packet);
  if (view.getUint16(0) !== 1 || view.getUint16(2) !== ETHERTYPE_IPV4 || packet[4] !== 6 || packet[5] !== 4) {
    return 'ARP for another hardware or protocol type';
  }
  const operation = view.getUint16(6);
  if (operation !== ARP_REQUEST && operation !== ARP_REPLY) return 'ARP operation neither request nor reply';
  return {
    operation,
    senderMac: packet.subarray(8, 14),
    senderIp: view.getUint32(14),
    targetMac: packet.subarray(18, 24),
    targetIp: view.getUint32(24),
  };
}

export function buildArp(destination: Mac, source: Mac, arp: ArpPacket): Uint8Array {
  const frame = new Uint8Array(ETHERNET_HEADER_BYTES + ARP_BYTES);
  writeEthernet(frame, destination, source, ETHERTYPE_ARP);
  const view = viewOf(frame.subarray(ETHERNET_HEADER_BYTES));
  view.setUint16(0, 1);
  view.setUint16(2, ETHERTYPE_IPV4);
  view.setUint8(4, 6);
  view.setUint8(5, 4);
  view.setUint16(6, arp.operation);
  frame.set(arp.senderMac, ETHERNET_HEADER_BYTES + 8);
  view.setUint32(14, arp.senderIp);
  frame.set(arp.targetMac, ETHERNET_HEADER_BYTES + 18);
  view.setUint32(24, arp.targetIp);
  return frame;
}

// ---- IPv4 (RFC 791) ---------------------------------------------------------------------------------

export interface Ipv4Packet {
  readonly source: number;
  readonly destination: number;
  readonly protocol: number;
  readonly ttl: number;
  /** The header, options included. */
  readonly header: Uint8Array;
  /** The payload up to the total length (Ethernet padding cut off). */
  readonly payload: Uint8Array;
}

export function parseIpv4(packet: Uint8Array): Ipv4Packet | Refusal {
  if (packet.byteLength < IPV4_HEADER_BYTES) return 'IPv4 packet shorter than its header';
  const version = packet[0]! >>> 4;
  if (version !== 4) return 'IPv4 EtherType with another IP version';
  const headerBytes = (packet[0]! & 0x0f) * 4;
  if (headerBytes < IPV4_HEADER_BYTES) return 'IPv4 header length below 20 bytes';
  const view = viewOf(packet);
  const totalLength = view.getUint16(2);
  if (totalLength < headerBytes) return 'IPv4 total length shorter than its header';
  if (totalLength > packet.byteLength) return 'IPv4 total length beyond the frame';
  const header = packet.subarray(0, headerBytes);
  if (!checksumValid(header)) return 'IPv4 header checksum wrong';
  const flagsAndOffset = view.getUint16(6);
  // More-fragments set, or a fragment offset: the guest's MTU is ours, so a fragment is a guest's choice
  // we do not reassemble (slirp reassembles; Linux never fragments below the 1500-byte MTU it was told).
  if ((flagsAndOffset & 0x3fff) !== 0) return 'IPv4 fragment';
  return {
    source: view.getUint32(12),
    destination: view.getUint32(16),
    protocol: packet[9]!,
    ttl: packet[8]!,
    header,
    payload: packet.subarray(headerBytes, totalLength),
  };
}

/**
 * A new frame holding Ethernet and IPv4 headers (no options, DF set, TTL 64, checksum done) for a
 * payload of `payloadBytes`, which the caller writes from offset `IPV4_PAYLOAD_OFFSET`.
 */
export function ipv4Frame(
  destinationMac: Mac,
  sourceMac: Mac,
  source: number,
  destination: number,
  protocol: number,
  payloadBytes: number,
): Uint8Array {
  const frame = new Uint8Array(IPV4_PAYLOAD_OFFSET + payloadBytes);
  writeEthernet(frame, destinationMac, sourceMac, ETHERTYPE_IPV4);
  const header = frame.subarray(ETHERNET_HEADER_BYTES, IPV4_PAYLOAD_OFFSET);
  const view = viewOf(header);
  view.setUint8(0, 0x45);
  view.setUint16(2, IPV4_HEADER_BYTES + payloadBytes);
  view.setUint16(6, 0x4000);
  view.setUint8(8, 64);
  view.setUint8(9, protocol);
  view.setUint32(12, source);
  view.setUint32(16, destination);
  view.setUint16(10, internetChecksum(header));
  return frame;
}

export const IPV4_PAYLOAD_OFFSET = ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES;

// ---- ICMP (RFC 792) ---------------------------------------------------------------------------------

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

export interface IcmpMessage {
  readonly type: number;
  readonly code: number;
  /** The message whole, header included (an echo reply copies it). */
  readonly message: Uint8Array;
}

export function parseIcmp(message: Uint8Array): IcmpMessage | Refusal {
  if (message.byteLength < ICMP_HEADER_BYTES) return 'ICMP message truncated';
  if (!checksumValid(message)) return 'ICMP checksum wrong';
  return { type: message[0]!, code: message[1]!, message };
}

/** An echo reply to `request` (an echo request's message): same identifier, sequence and data. */
export function buildIcmpEchoReply(
  destinationMac: Mac,
  sourceMac: Mac,
  source: number,
  destination: number,
  request: Uint8Array,
): Uint8Array {
  const frame = ipv4Frame(destinationMac, sourceMac, source, destination, IP_PROTOCOL_ICMP, request.byteLength);
  const message = frame.subarray(IPV4_PAYLOAD_OFFSET);
  message.set(request);
  message[0] = ICMP_ECHO_REPLY;
  message[1] = 0;
  message[2] = 0;
  message[3] = 0;
  viewOf(message).setUint16(2, internetChecksum(message));
  return frame;
}

// ---- UDP (RFC 768) ----------------------------------------------------------------------------------

export interface UdpDatagram {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload: Uint8Array;
}

export function parseUdp(ip: Ipv4Packet): UdpDatagram | Refusal {
  const datagram = ip.payload;
  if (datagram.byteLength < UDP_HEADER_BYTES) return 'UDP datagram truncated';
  const view = viewOf(datagram);
  const length = view.getUint16(4);
  if (length < UDP_HEADER_BYTES || length > datagram.byteLength) return 'UDP length outside the packet';
  const checked = datagram.subarray(0, length);
  // A zero checksum means the sender computed none (RFC 768).
  if (
    view.getUint16(6) !== 0 &&
    !checksumValid(checked, pseudoHeaderSum(ip.source, ip.destination, IP_PROTOCOL_UDP, length))
  ) {
    return 'UDP checksum wrong';
  }
  return {
    sourcePort: view.getUint16(0),
    destinationPort: view.getUint16(2),
    payload: datagram.subarray(UDP_HEADER_BYTES, length),
  };
}

export function buildUdp(
  destinationMac: Mac,
  sourceMac: Mac,
  source: number,
  sourcePort: number,
  destination: number,
  destinationPort: number,
  payload: Uint8Array,
): Uint8Array {
  const length = UDP_HEADER_BYTES + payload.byteLength;
  const frame = ipv4Frame(destinationMac, sourceMac, source, destination, IP_PROTOCOL_UDP, length);
  const datagram = frame.subarray(IPV4_PAYLOAD_OFFSET);
  const view = viewOf(datagram);
  view.setUint16(0, sourcePort);
  view.setUint16(2, destinationPort);
  view.setUint16(4, length);
  datagram.set(payload, UDP_HEADER_BYTES);
  // A computed zero is sent as all ones: zero means "no checksum" (RFC 768).
  view.setUint16(
    6,
    internetChecksum(datagram, pseudoHeaderSum(source, destination, IP_PROTOCOL_UDP, length)) || 0xffff,
  );
  return frame;
}

// ---- TCP (RFC 9293) ---------------------------------------------------------------------------------

export const TCP_OPTION_END = 0;
export const TCP_OPTION_NOP = 1;
export const TCP_OPTION_MSS = 2;
export const TCP_OPTION_WINDOW_SCALE = 3;

export interface TcpSegment {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly sequence: number;
  readonly acknowledgment: number;
  readonly flags: number;
  readonly window: number;
  /** The MSS option (SYN only), or undefined. */
  readonly mss: number | undefined;
  /** The window scale option's shift (SYN only; RFC 7323 caps it at 14), or undefined. */
  readonly windowScale: number | undefined;
  readonly payload: Uint8Array;
}

export function parseTcp(ip: Ipv4Packet): TcpSegment | Refusal {
  const segment = ip.payload;
  if (segment.byteLength < TCP_HEADER_BYTES) return 'TCP segment truncated';
  const headerBytes = (segment[12]! >>> 4) * 4;
  if (headerBytes < TCP_HEADER_BYTES || headerBytes > segment.byteLength) return 'TCP data offset outside the segment';
  if (!checksumValid(segment, pseudoHeaderSum(ip.source, ip.destination, IP_PROTOCOL_TCP, segment.byteLength))) {
    return 'TCP checksum wrong';
  }
  let mss: number | undefined;
  let windowScale: number | undefined;
  for (let i = TCP_HEADER_BYTES; i < headerBytes;) {
    const kind = segment[i]!;
    if (kind === TCP_OPTION_END) break;
    if (kind === TCP_OPTION_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= headerBytes) return 'TCP option truncated';
    const length = segment[i + 1]!;
    if (length < 2 || i + length > headerBytes) return 'TCP option length outside the header';
    if (kind === TCP_OPTION_MSS && length === 4) mss = (segment[i + 2]! << 8) | segment[i + 3]!;
    else if (kind === TCP_OPTION_WINDOW_SCALE && length === 3) windowScale = Math.min(segment[i + 2]!, 14);
    // SACK-permitted, SACK blocks and timestamps are read past: this end sends neither.
    i += length;
  }
  const view = viewOf(segment);
  return {
    sourcePort: view.getUint16(0),
    destinationPort: view.getUint16(2),
    sequence: view.getUint32(4),
    acknowledgment: view.getUint32(8),
    flags: segment[13]! & 0x3f,
    window: view.getUint16(14),
    mss,
    windowScale,
    payload: segment.subarray(headerBytes),
  };
}

export interface TcpHeader {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly sequence: number;
  readonly acknowledgment: number;
  readonly flags: number;
  readonly window: number;
  /** For a SYN: the MSS to announce. */
  readonly mss?: number;
  /** For a SYN: the window scale shift to announce. */
  readonly windowScale?: number;
}

/** A whole frame for one TCP segment; its payload is copied from `chunks` (concatenated) once. */
export function buildTcp(
  destinationMac: Mac,
  sourceMac: Mac,
  source: number,
  destination: number,
  header: TcpHeader,
  chunks: readonly Uint8Array[] = [],
): Uint8Array {
  const optionBytes = (header.mss === undefined ? 0 : 4) + (header.windowScale === undefined ? 0 : 4);
  const headerBytes = TCP_HEADER_BYTES + optionBytes;
  let payloadBytes = 0;
  for (const chunk of chunks) payloadBytes += chunk.byteLength;
  const length = headerBytes + payloadBytes;
  const frame = ipv4Frame(destinationMac, sourceMac, source, destination, IP_PROTOCOL_TCP, length);
  const segment = frame.subarray(IPV4_PAYLOAD_OFFSET);
  const view = viewOf(segment);
  view.setUint16(0, header.sourcePort);
  view.setUint16(2, header.destinationPort);
  view.setUint32(4, header.sequence >>> 0);
  view.setUint32(8, header.acknowledgment >>> 0);
  view.setUint8(12, (headerBytes / 4) << 4);
  view.setUint8(13, header.flags);
  view.setUint16(14, header.window);
  let at = TCP_HEADER_BYTES;
  if (header.mss !== undefined) {
    view.setUint32(at, (TCP_OPTION_MSS << 24) | (4 << 16) | header.mss);
    at += 4;
  }
  if (header.windowScale !== undefined) {
    view.setUint32(at, (TCP_OPTION_NOP << 24) | (TCP_OPTION_WINDOW_SCALE << 16) | (3 << 8) | header.windowScale);
    at += 4;
  }
  for (const chunk of chunks) {
    segment.set(chunk, at);
    at += chunk.byteLength;
  }
  view.setUint16(16, internetChecksum(segment, pseudoHeaderSum(source, destination, IP_PROTOCOL_TCP, length)));
  return frame;
}
