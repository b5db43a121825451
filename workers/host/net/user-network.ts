/**
 * A user-mode network as QEMU's `-netdev user` (slirp) gives one: 10.0.2.0/24, the gateway 10.0.2.2
 * (which is also the DHCP server), a DNS resolver at 10.0.2.3, guests from 10.0.2.15. It is the
 * `FramePort` a VM's virtio-net sends its guest's frames to, and answers through the `FramePort` it is
 * given: ARP for its two addresses, DHCP, ICMP echo from both, DNS through a `Resolver`, and the guest's
 * TCP (terminated here, tcp.ts) and UDP joined to a `SocketProvider`'s host sockets.
 *
 * A guest's bytes never make it throw: a frame it cannot use is dropped and counted by reason
 * (`drops`). Per-VM caps bound what a guest can make it hold: connections, UDP flows, DNS lookups in
 * flight, host bytes held for connections, DHCP leases; a connection over a cap is refused with a RST,
 * and `onNotice` gets one line for the VM's pane (at most one per cap every ten seconds).
 */
import { localLeasePool, type LeasePool } from './lease-pool.ts';
import {
  buildDhcpReply,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  DHCPACK,
  DHCPDISCOVER,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  parseDhcp,
  type DhcpRequest,
} from './dhcp.ts';
import {
  buildDnsAnswer,
  DNS_CLASS_IN,
  DNS_PORT,
  DNS_TYPE_A,
  NameNotFound,
  parseDnsQuery,
  RCODE_NOERROR,
  RCODE_NOTIMP,
  RCODE_NXDOMAIN,
  RCODE_SERVFAIL,
  type DnsQuery,
  type Resolver,
} from './dns.ts';
import {
  ARP_REPLY,
  ARP_REQUEST,
  BROADCAST_MAC,
  buildArp,
  buildIcmpEchoReply,
  buildTcp,
  buildUdp,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  ICMP_ECHO_REQUEST,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  ipv4,
  IPV4_HEADER_BYTES,
  macEquals,
  macToString,
  MTU,
  parseArp,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseTcp,
  parseUdp,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  UDP_HEADER_BYTES,
  type Ipv4Packet,
  type Mac,
  type TcpHeader,
  type TcpSegment,
} from './frames.ts';
import type { FramePort } from './link.ts';
import type { AttachStream, HostUdpSocket, SocketProvider } from './sockets.ts';
import { TcpConnection, type TcpHost, type TcpLimits } from './tcp.ts';

export const NETWORK_ADDRESS = ipv4('10.0.2.0');
export const NETMASK = ipv4('255.255.255.0');
export const GATEWAY_ADDRESS = ipv4('10.0.2.2');
export const DNS_ADDRESS = ipv4('10.0.2.3');
export const FIRST_GUEST_ADDRESS = ipv4('10.0.2.15');
/** QEMU's slirp answers for its addresses with 52:55:0a:00:02:02 (52:55 and the gateway's address). */
export const GATEWAY_MAC: Mac = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);

const BROADCAST_ADDRESS = 0xffffffff;
const SUBNET_BROADCAST = (NETWORK_ADDRESS | ~NETMASK) >>> 0;
/** Leases 10.0.2.15 to 10.0.2.30, as slirp's 16. */
const LEASE_COUNT = 16;
const LEASE_SECONDS = 86_400;
const NOTICE_INTERVAL_MS = 10_000;
const FIRST_FORWARD_PORT = 49_152;

export interface UserNetworkOptions {
  readonly provider: SocketProvider;
  readonly resolver: Resolver;
  /** One line for the VM's pane when a cap is hit. */
  readonly onNotice?: (text: string) => void;
  /** Open TCP connections (default 512). */
  readonly maxConnections?: number;
  /** Host bytes held for all connections together, sent but unacknowledged or unsent (default 64 MiB). */
  readonly maxBufferedBytes?: number;
  /** Host bytes held for one connection before its host stream is paused (default 256 KiB). */
  readonly sendBufferBytes?: number;
  /** First retransmission timeout (default 200 ms; the link's round trip is a guest's scheduling delay). */
  readonly retransmitMs?: number;
  /** Retransmissions before a connection is reset (default 8). */
  readonly maxRetransmits?: number;
  /** UDP flows (guest address and port) with a host socket (default 256). */
  readonly maxUdpFlows?: number;
  /** A UDP flow with no datagram either way for this long is closed (default 60 s). */
  readonly udpIdleMs?: number;
  /** DNS lookups in flight; more are answered SERVFAIL (default 64). */
  readonly maxDnsLookups?: number;
  /** Initial sequence numbers (default random; the fuzzer fixes them to reach established connections). */
  readonly initialSequence?: () => number;
  /** Which addresses the DHCP server may give (default all of its 16; across tabs, lease-pool.ts). */
  readonly leasePool?: LeasePool;
}

/** The addresses the DHCP server gives, 10.0.2.15 to 10.0.2.30. */
export const LEASE_ADDRESSES: readonly number[] = Array.from(
  { length: LEASE_COUNT },
  (_, i) => FIRST_GUEST_ADDRESS + i,
);

interface Lease {
  readonly address: number;
  readonly mac: Mac;
}

interface UdpFlow {
  readonly socket: HostUdpSocket;
  readonly guestAddress: number;
  readonly guestPort: number;
  lastUsed: number;
}

function isMulticastOrBroadcast(address: number): boolean {
  return address >>> 28 === 0xe || address === BROADCAST_ADDRESS || address === SUBNET_BROADCAST;
}

function inSubnet(address: number): boolean {
  return (address & NETMASK) >>> 0 === NETWORK_ADDRESS;
}

function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

export class UserNetwork implements FramePort {
  /** Frames dropped, by reason. */
  readonly drops = new Map<string, number>();
  /** TCP go-backs to the oldest unacknowledged byte: on the timer, and on three duplicate ACKs. */
  readonly retransmissions = { timer: 0, duplicateAcks: 0 };
  private readonly guest: FramePort;
  private readonly provider: SocketProvider;
  private readonly resolver: Resolver;
  private readonly onNotice: (text: string) => void;
  private readonly maxConnections: number;
  private readonly maxBufferedBytes: number;
  private readonly maxUdpFlows: number;
  private readonly udpIdleMs: number;
  private readonly maxDnsLookups: number;
  private readonly leasePool: LeasePool;

  /** Guest addresses to MACs, from their frames and their leases. */
  private readonly macs = new Map<number, Mac>();
  private readonly leases = new Map<string, Lease>();
  private readonly connections = new Map<string, TcpConnection>();
  private readonly udpFlows = new Map<string, UdpFlow>();
  private udpSweep: ReturnType<typeof setInterval> | undefined;
  private bufferedBytes = 0;
  private dnsLookups = 0;
  private nextForwardPort = FIRST_FORWARD_PORT;
  private readonly lastNotice = new Map<string, number>();
  private readonly tcpHost: TcpHost;

  constructor(guest: FramePort, options: UserNetworkOptions) {
    this.guest = guest;
    this.provider = options.provider;
    this.resolver = options.resolver;
    this.onNotice = options.onNotice ?? (() => {});
    this.maxConnections = options.maxConnections ?? 512;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.maxUdpFlows = options.maxUdpFlows ?? 256;
    this.udpIdleMs = options.udpIdleMs ?? 60_000;
    this.maxDnsLookups = options.maxDnsLookups ?? 64;
    this.leasePool = options.leasePool ?? localLeasePool;
    const limits: TcpLimits = {
      retransmitMs: options.retransmitMs ?? 200,
      maxRetransmits: options.maxRetransmits ?? 8,
      sendBufferBytes: options.sendBufferBytes ?? 256 * 1024,
    };
    this.tcpHost = {
      limits,
      emit: (connection, header, chunks) =>
        this.emitTcp(connection.ids.guestAddress, connection.ids.remoteAddress, header, chunks),
      finished: (connection) => {
        const key = this.connectionKey(
          connection.ids.guestAddress,
          connection.ids.guestPort,
          connection.ids.remoteAddress,
          connection.ids.remotePort,
        );
        if (this.connections.get(key) === connection) this.connections.delete(key);
      },
      buffered: (delta) => {
        this.bufferedBytes += delta;
        if (delta < 0 && this.bufferedBytes < this.maxBufferedBytes) {
          for (const connection of this.connections.values()) connection.resumeIfRoom();
        }
      },
      roomForMore: () => this.bufferedBytes < this.maxBufferedBytes,
      initialSequence: options.initialSequence ?? (() => Math.random() * 0x1_0000_0000),
      wentBack: (timer) => {
        if (timer) this.retransmissions.timer++;
        else this.retransmissions.duplicateAcks++;
      },
    };
  }

  /** Open TCP connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Host bytes held for connections. */
  get heldBytes(): number {
    return this.bufferedBytes;
  }

  /** A frame from the guest. */
  receive(frame: Uint8Array): void {
    try {
      this.frame(frame);
    } catch (error) {
      // Our own bug, not the guest's: counted (the fuzzer fails on it) rather than thrown into the device.
      this.drop(`internal error: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Opens a TCP connection from the gateway to the guest's `guestPort` (a forwarded host port) and joins
   * it to the stream `attach` gives; `guestAddress` defaults to the first lease's. False when the guest
   * has not been seen at that address yet or a cap is reached.
   */
  openToGuest(guestPort: number, attach: AttachStream, guestAddress?: number): boolean {
    guestAddress ??= this.leases.values().next().value?.address ?? FIRST_GUEST_ADDRESS;
    if (!this.macs.has(guestAddress) || !this.roomForConnection()) return false;
    let remotePort = this.nextForwardPort;
    while (this.connections.has(this.connectionKey(guestAddress, guestPort, GATEWAY_ADDRESS, remotePort))) {
      remotePort = remotePort === 0xffff ? FIRST_FORWARD_PORT : remotePort + 1;
    }
    this.nextForwardPort = remotePort === 0xffff ? FIRST_FORWARD_PORT : remotePort + 1;
    const connection = TcpConnection.toGuest(
      this.tcpHost,
      { guestAddress, guestPort, remoteAddress: GATEWAY_ADDRESS, remotePort },
      attach,
    );
    if (connection.state !== 'closed') {
      this.connections.set(this.connectionKey(guestAddress, guestPort, GATEWAY_ADDRESS, remotePort), connection);
    }
    return true;
  }

  /**
   * Records that the guest with `mac` uses `address` (a restored guest's lease, which is in its RAM), so
   * that no other guest is given it. False, and nothing recorded, when it is not one of the DHCP
   * addresses or another guest of this network has it.
   */
  claimLease(mac: Mac, address: number): boolean {
    const key = macToString(mac);
    const leased = this.leases.get(key);
    if (leased?.address === address) return true;
    if (!this.freeHere(address)) return false;
    if (leased) this.leasePool.released(leased.address);
    const lease = { address, mac: mac.slice() };
    this.leases.set(key, lease);
    this.macs.set(address, lease.mac);
    this.leasePool.leased(address);
    return true;
  }

  /** The IPv4 address of the card `mac`: its lease, else the address its frames came from; undefined if none. */
  addressOf(mac: Mac): number | undefined {
    for (const lease of this.leases.values()) if (macEquals(lease.mac, mac)) return lease.address;
    for (const [address, known] of this.macs) if (macEquals(known, mac)) return address;
    return undefined;
  }

  /** Resets every connection (the guest sees RST) and closes every UDP flow: a restore, a shutdown. */
  reset(): void {
    for (const connection of [...this.connections.values()]) connection.abort();
    this.connections.clear();
    for (const flow of this.udpFlows.values()) flow.socket.close();
    this.udpFlows.clear();
    if (this.udpSweep !== undefined) clearInterval(this.udpSweep);
    this.udpSweep = undefined;
  }

  private frame(frame: Uint8Array): void {
    const ethernet = parseEthernet(frame);
    if (typeof ethernet === 'string') return this.drop(ethernet);
    if (ethernet.source[0]! & 1) return this.drop('Ethernet source address multicast');
    switch (ethernet.etherType) {
      case ETHERTYPE_ARP:
        return this.arp(ethernet.payload, ethernet.source);
      case ETHERTYPE_IPV4:
        return this.ipv4(ethernet.payload, ethernet.source);
      case ETHERTYPE_IPV6:
        return this.drop('IPv6 (the network has IPv4 only)');
      case ETHERTYPE_VLAN:
        return this.drop('802.1Q VLAN tag');
      default:
        return this.drop('EtherType neither IPv4 nor ARP');
    }
  }

  private drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  private notice(kind: string, text: string): void {
    const now = Date.now();
    if (now - (this.lastNotice.get(kind) ?? -Infinity) < NOTICE_INTERVAL_MS) return;
    this.lastNotice.set(kind, now);
    this.onNotice(text);
  }

  private learn(address: number, mac: Mac): void {
    if (!inSubnet(address) || address === GATEWAY_ADDRESS || address === DNS_ADDRESS || isMulticastOrBroadcast(address))
      return;
    if (address === NETWORK_ADDRESS) return;
    const known = this.macs.get(address);
    if (!known || !macEquals(known, mac)) this.macs.set(address, mac.slice());
  }

  // ---- ARP ----

  private arp(packet: Uint8Array, source: Mac): void {
    const arp = parseArp(packet);
    if (typeof arp === 'string') return this.drop(arp);
    this.learn(arp.senderIp, arp.senderMac);
    if (arp.operation !== ARP_REQUEST) return;
    if (arp.targetIp !== GATEWAY_ADDRESS && arp.targetIp !== DNS_ADDRESS)
      return this.drop('ARP request for an address nobody has');
    this.guest.receive(
      buildArp(source, GATEWAY_MAC, {
        operation: ARP_REPLY,
        senderMac: GATEWAY_MAC,
        senderIp: arp.targetIp,
        targetMac: arp.senderMac,
        targetIp: arp.senderIp,
      }),
    );
  }

  // ---- IPv4 ----

  private ipv4(packet: Uint8Array, source: Mac): void {
    const ip = parseIpv4(packet);
    if (typeof ip === 'string') return this.drop(ip);
    if (ip.source !== 0 && (!inSubnet(ip.source) || ip.source === GATEWAY_ADDRESS || ip.source === DNS_ADDRESS)) {
      return this.drop('IPv4 source address not a guest address');
    }
    if (ip.source !== 0) {
      this.learn(ip.source, source);
      // A guest that kept its address across a restore from a snapshot without it: the address is taken.
      if (!this.leases.has(macToString(source))) this.claimLease(source, ip.source);
    }
    switch (ip.protocol) {
      case IP_PROTOCOL_UDP:
        return this.udp(ip, source);
      case IP_PROTOCOL_TCP:
        return this.tcp(ip);
      case IP_PROTOCOL_ICMP:
        return this.icmp(ip, source);
      default:
        return this.drop('IP protocol neither TCP, UDP nor ICMP');
    }
  }

  private icmp(ip: Ipv4Packet, source: Mac): void {
    const icmp = parseIcmp(ip.payload);
    if (typeof icmp === 'string') return this.drop(icmp);
    if (icmp.type !== ICMP_ECHO_REQUEST) return this.drop('ICMP other than echo request');
    if (ip.destination !== GATEWAY_ADDRESS && ip.destination !== DNS_ADDRESS)
      return this.drop('ICMP echo to an address beyond the gateway');
    if (ip.source === 0) return this.drop('IPv4 source address 0.0.0.0');
    this.guest.receive(buildIcmpEchoReply(source, GATEWAY_MAC, ip.destination, ip.source, icmp.message));
  }

  // ---- UDP: DHCP, DNS, and the rest to host sockets ----

  private udp(ip: Ipv4Packet, source: Mac): void {
    const udp = parseUdp(ip);
    if (typeof udp === 'string') return this.drop(udp);
    if (
      udp.destinationPort === DHCP_SERVER_PORT &&
      (ip.destination === BROADCAST_ADDRESS || ip.destination === GATEWAY_ADDRESS)
    ) {
      return this.dhcp(udp.payload, source);
    }
    if (ip.source === 0) return this.drop('IPv4 source address 0.0.0.0');
    if (ip.destination === DNS_ADDRESS && udp.destinationPort === DNS_PORT) {
      return this.dns(udp.payload, ip.source, udp.sourcePort, source);
    }
    if (isMulticastOrBroadcast(ip.destination) || ip.destination === 0)
      return this.drop('UDP to a broadcast or multicast address');
    if (inSubnet(ip.destination) && ip.destination !== GATEWAY_ADDRESS)
      return this.drop('UDP to an address of the network nobody has');
    const key = `${ip.source}:${udp.sourcePort}`;
    let flow = this.udpFlows.get(key);
    if (!flow) {
      if (this.udpFlows.size >= this.maxUdpFlows) {
        this.notice(
          'udp',
          `network: ${this.maxUdpFlows} UDP flows open, the cap; datagrams from new guest ports are dropped`,
        );
        return this.drop('UDP flow cap reached');
      }
      flow = this.openUdpFlow(key, ip.source, udp.sourcePort);
    }
    flow.lastUsed = Date.now();
    flow.socket.send(udp.payload, ip.destination, udp.destinationPort);
  }

  private openUdpFlow(key: string, guestAddress: number, guestPort: number): UdpFlow {
    const flow: UdpFlow = {
      guestAddress,
      guestPort,
      lastUsed: Date.now(),
      socket: this.provider.openUdp({
        message: (data, address, port) => {
          if (this.udpFlows.get(key) !== flow) return;
          if (data.byteLength > MTU - IPV4_HEADER_BYTES - UDP_HEADER_BYTES)
            return this.drop('UDP datagram from the host larger than the MTU');
          const mac = this.macs.get(guestAddress);
          if (!mac) return;
          flow.lastUsed = Date.now();
          this.guest.receive(buildUdp(mac, GATEWAY_MAC, address, port, guestAddress, guestPort, data));
        },
      }),
    };
    this.udpFlows.set(key, flow);
    if (this.udpSweep === undefined) {
      this.udpSweep = setInterval(() => this.sweepUdp(), Math.max(10, this.udpIdleMs / 2));
      unrefTimer(this.udpSweep);
    }
    return flow;
  }

  private sweepUdp(): void {
    const now = Date.now();
    for (const [key, flow] of this.udpFlows) {
      if (now - flow.lastUsed >= this.udpIdleMs) {
        flow.socket.close();
        this.udpFlows.delete(key);
      }
    }
    if (this.udpFlows.size === 0 && this.udpSweep !== undefined) {
      clearInterval(this.udpSweep);
      this.udpSweep = undefined;
    }
  }

  // ---- DHCP (RFC 2131 §4.3) ----

  private dhcp(message: Uint8Array, source: Mac): void {
    const request = parseDhcp(message);
    if (typeof request === 'string') return this.drop(request);
    const mac = macToString(request.clientMac);
    switch (request.messageType) {
      case DHCPDISCOVER: {
        // An offer binds nothing (a flood of DISCOVERs leases no address); the REQUEST that follows does.
        const address = this.leases.get(mac)?.address ?? this.freeAddress(request.requestedAddress);
        if (address === undefined) {
          const whose = this.leasePool === localLeasePool ? '' : " by the VMs of this site's tabs";
          this.notice('dhcp', `network: all ${LEASE_COUNT} DHCP addresses are leased${whose}; a new client got none`);
          return this.drop('DHCP addresses all leased');
        }
        return this.dhcpReply(request, DHCPOFFER, address, source);
      }
      case DHCPREQUEST: {
        // A REQUEST naming another server is the client choosing that server's offer (§4.3.2).
        if (request.serverId !== undefined && request.serverId !== GATEWAY_ADDRESS) return;
        const wanted = request.requestedAddress ?? request.clientAddress;
        const leased = this.leases.get(mac)?.address;
        if (leased === undefined && wanted !== 0 && this.freeHere(wanted)) {
          const answer = this.leasePool.mayLease(wanted, true);
          // Another tab may hold it: silent until the pool knows (§4.3.2), the client's retry gets the answer.
          if (answer === 'asking') return this.drop('DHCP REQUEST for an address being asked for');
          if (answer === 'yes') {
            this.claimLease(request.clientMac, wanted);
            return this.dhcpReply(request, DHCPACK, wanted, source);
          }
        }
        if (leased !== undefined && leased === wanted) return this.dhcpReply(request, DHCPACK, leased, source);
        return this.dhcpReply(request, DHCPNAK, 0, source);
      }
      case DHCPRELEASE: {
        const leased = this.leases.get(mac);
        this.leases.delete(mac);
        if (leased) this.leasePool.released(leased.address);
        return;
      }
      default:
        return this.drop('DHCP message neither DISCOVER, REQUEST nor RELEASE');
    }
  }

  /** Whether `address` is one of the DHCP addresses and no guest of this network has it. */
  private freeHere(address: number): boolean {
    if (!LEASE_ADDRESSES.includes(address)) return false;
    for (const lease of this.leases.values()) if (lease.address === address) return false;
    return true;
  }

  /** `wanted` if it is free and ours to give (a client rebooting), else the lowest free address the pool holds. */
  private freeAddress(wanted: number | undefined): number | undefined {
    const ours = (address: number): boolean =>
      this.freeHere(address) && this.leasePool.mayLease(address, false) === 'yes';
    if (wanted !== undefined && ours(wanted)) return wanted;
    return LEASE_ADDRESSES.find(ours);
  }

  private dhcpReply(request: DhcpRequest, type: number, address: number, source: Mac): void {
    const reply = buildDhcpReply(request, type, address, {
      serverId: GATEWAY_ADDRESS,
      subnetMask: NETMASK,
      router: GATEWAY_ADDRESS,
      dns: DNS_ADDRESS,
      leaseSeconds: LEASE_SECONDS,
    });
    // A client without an address yet cannot take unicast at the IP layer: broadcast (§4.1).
    const destination = request.clientAddress !== 0 && type !== DHCPNAK ? request.clientAddress : BROADCAST_ADDRESS;
    const mac = destination === BROADCAST_ADDRESS && type === DHCPNAK ? BROADCAST_MAC : source;
    this.guest.receive(
      buildUdp(mac, GATEWAY_MAC, GATEWAY_ADDRESS, DHCP_SERVER_PORT, destination, DHCP_CLIENT_PORT, reply),
    );
  }

  // ---- DNS ----

  private dns(message: Uint8Array, guestAddress: number, guestPort: number, source: Mac): void {
    const query = parseDnsQuery(message);
    if (typeof query === 'string') return this.drop(query);
    const answer = (rcode: number, addresses: readonly number[] = []): void => {
      this.guest.receive(
        buildUdp(
          this.macs.get(guestAddress) ?? source,
          GATEWAY_MAC,
          DNS_ADDRESS,
          DNS_PORT,
          guestAddress,
          guestPort,
          buildDnsAnswer(query, rcode, addresses),
        ),
      );
    };
    if (query.opcode !== 0 || query.class !== DNS_CLASS_IN) return answer(RCODE_NOTIMP);
    // The network has no IPv6: AAAA and other types get an empty answer (the name exists, no records).
    if (query.type !== DNS_TYPE_A || query.name === '') return answer(RCODE_NOERROR);
    if (this.dnsLookups >= this.maxDnsLookups) {
      this.notice('dns', `network: ${this.maxDnsLookups} DNS lookups in flight, the cap; more are answered SERVFAIL`);
      return answer(RCODE_SERVFAIL);
    }
    this.dnsLookups++;
    this.lookup(query).then(
      (addresses) => answer(RCODE_NOERROR, addresses),
      (error: unknown) => answer(error instanceof NameNotFound ? RCODE_NXDOMAIN : RCODE_SERVFAIL),
    );
  }

  private async lookup(query: DnsQuery): Promise<number[]> {
    try {
      return await this.resolver.resolve4(query.name);
    } finally {
      this.dnsLookups--;
    }
  }

  // ---- TCP ----

  private connectionKey(guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): string {
    return `${guestAddress}:${guestPort}>${remoteAddress}:${remotePort}`;
  }

  private roomForConnection(): boolean {
    if (this.connections.size >= this.maxConnections) {
      this.notice('connections', `network: ${this.maxConnections} TCP connections open, the cap; new ones are refused`);
      return false;
    }
    if (this.bufferedBytes >= this.maxBufferedBytes) {
      const size =
        this.maxBufferedBytes >= 1 << 20
          ? `${Math.round(this.maxBufferedBytes / (1 << 20))} MiB`
          : `${Math.round(this.maxBufferedBytes / 1024)} KiB`;
      this.notice('buffer', `network: ${size} held for TCP connections, the cap; new ones are refused`);
      return false;
    }
    return true;
  }

  private tcp(ip: Ipv4Packet): void {
    const segment = parseTcp(ip);
    if (typeof segment === 'string') return this.drop(segment);
    if (ip.source === 0) return this.drop('IPv4 source address 0.0.0.0');
    if (isMulticastOrBroadcast(ip.destination) || ip.destination === 0)
      return this.drop('TCP to a broadcast or multicast address');
    const key = this.connectionKey(ip.source, segment.sourcePort, ip.destination, segment.destinationPort);
    const existing = this.connections.get(key);
    if (existing) return existing.segment(segment);
    if (segment.flags & TCP_RST) return;
    if ((segment.flags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return this.refuse(ip, segment);
    // Nothing listens at the network's own addresses but the gateway, which is the host.
    if (inSubnet(ip.destination) && ip.destination !== GATEWAY_ADDRESS) return this.refuse(ip, segment);
    if (!this.roomForConnection()) return this.refuse(ip, segment);
    const ids = {
      guestAddress: ip.source,
      guestPort: segment.sourcePort,
      remoteAddress: ip.destination,
      remotePort: segment.destinationPort,
    };
    const connection = TcpConnection.fromGuest(this.tcpHost, ids, segment, (events) =>
      this.provider.connect(ip.destination, segment.destinationPort, events),
    );
    if (connection.state !== 'closed') this.connections.set(key, connection);
  }

  /** A RST for a segment no connection takes (RFC 9293 §3.10.7.1). */
  private refuse(ip: Ipv4Packet, segment: TcpSegment): void {
    const length = segment.payload.byteLength + (segment.flags & TCP_SYN ? 1 : 0) + (segment.flags & TCP_FIN ? 1 : 0);
    const header: TcpHeader =
      segment.flags & TCP_ACK
        ? {
            sourcePort: segment.destinationPort,
            destinationPort: segment.sourcePort,
            sequence: segment.acknowledgment,
            acknowledgment: 0,
            flags: TCP_RST,
            window: 0,
          }
        : {
            sourcePort: segment.destinationPort,
            destinationPort: segment.sourcePort,
            sequence: 0,
            acknowledgment: (segment.sequence + length) >>> 0,
            flags: TCP_RST | TCP_ACK,
            window: 0,
          };
    this.emitTcp(ip.source, ip.destination, header, []);
  }

  private emitTcp(guestAddress: number, remoteAddress: number, header: TcpHeader, chunks: readonly Uint8Array[]): void {
    const mac = this.macs.get(guestAddress);
    if (!mac) return this.drop('no MAC known for the guest address');
    this.guest.receive(buildTcp(mac, GATEWAY_MAC, remoteAddress, guestAddress, header, chunks));
  }
}
