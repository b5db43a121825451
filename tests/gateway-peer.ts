/**
 * A scripted far end for a VM's network card (tests/netdev.test.ts): it answers ARP for 10.0.2.2 and ICMP
 * echo to it, and with `dhcp` offers and acknowledges 10.0.2.15, as QEMU's user network does for its
 * gateway. A few lines of frame handling, so the card and the images are tested without the user-mode
 * network.
 */
import type { FrameReceiver, NetworkHook } from '../workers/protocol/net-link.ts';

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
export class GatewayPeer {
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
