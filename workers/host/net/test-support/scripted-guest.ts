/**
 * A scripted guest for tests: it speaks Ethernet frames to a network (a DHCP client, ARP, ping, UDP and a
 * small TCP client with its own window) and can lose frames on purpose, as a guest whose receive ring is
 * full does. Frames from the network are handled a macrotask later, as a real device's would be.
 */
import {
  ARP_REPLY,
  ARP_REQUEST,
  BROADCAST_MAC,
  buildArp,
  buildTcp,
  buildUdp,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  ipv4Frame,
  IPV4_PAYLOAD_OFFSET,
  macEquals,
  parseArp,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseTcp,
  parseUdp,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type ArpPacket,
  type Ipv4Packet,
  type Mac,
  type TcpSegment,
} from '../frames.ts';
import { internetChecksum } from '../checksum.ts';
import type { FramePort } from '../link.ts';
import { GATEWAY_MAC } from '../user-network.ts';

export interface Received {
  readonly ip: Ipv4Packet;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload: Uint8Array;
}

export class ScriptedGuest implements FramePort {
  readonly mac: Mac;
  address = 0;
  network: FramePort | undefined;
  /** Every frame the network sent, in order (dropped ones included). */
  readonly frames: Uint8Array[] = [];
  readonly arpReplies: ArpPacket[] = [];
  readonly udp: Received[] = [];
  readonly icmp: Received[] = [];
  /** Drops the n-th frame from the network when this returns true (a full receive ring). */
  dropFrame: (index: number, frame: Uint8Array) => boolean = () => false;
  /** Answer a SYN to a port without a `tcpServer` with a RST (else it goes unanswered). */
  refuseClosedPorts = false;
  droppedFrames = 0;
  /** Other guests' MACs by address, for frames to them (everything else goes to the gateway). */
  readonly neighbours = new Map<number, Mac>();
  private readonly tcp = new Map<number, GuestTcp>();
  private readonly waiters: (() => void)[] = [];

  constructor(mac: Mac) {
    this.mac = mac;
  }

  receive(frame: Uint8Array): void {
    const copy = frame.slice();
    const index = this.frames.length;
    this.frames.push(copy);
    setTimeout(() => this.handle(index, copy), 0);
  }

  send(frame: Uint8Array): void {
    this.network!.receive(frame);
  }

  /** The MAC a frame to `address` goes to: a neighbour's, else the gateway's. */
  macFor(address: number): Mac {
    return this.neighbours.get(address) ?? GATEWAY_MAC;
  }

  /** Resolves once `condition` holds after a frame, or rejects after `ms`. */
  until(condition: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const check = (): void => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.waiters.push(check);
        }
      };
      this.waiters.push(check);
    });
  }

  private handle(index: number, frame: Uint8Array): void {
    if (this.dropFrame(index, frame)) {
      this.droppedFrames++;
      return;
    }
    const ethernet = parseEthernet(frame);
    if (typeof ethernet === 'string') throw new Error(`network sent a bad frame: ${ethernet}`);
    if (!macEquals(ethernet.destination, this.mac) && !macEquals(ethernet.destination, BROADCAST_MAC)) return;
    if (ethernet.etherType === ETHERTYPE_ARP) {
      const arp = parseArp(ethernet.payload);
      if (typeof arp === 'string') throw new Error(`network sent a bad ARP: ${arp}`);
      this.arpReplies.push(arp);
      // Answers a neighbour's request for its address, and learns the neighbour from it, as Linux does.
      if (arp.operation === ARP_REQUEST && this.address !== 0 && arp.targetIp === this.address) {
        this.neighbours.set(arp.senderIp, arp.senderMac.slice());
        this.send(
          buildArp(arp.senderMac, this.mac, {
            operation: ARP_REPLY,
            senderMac: this.mac,
            senderIp: this.address,
            targetMac: arp.senderMac,
            targetIp: arp.senderIp,
          }),
        );
      }
    } else if (ethernet.etherType === ETHERTYPE_IPV4) {
      const ip = parseIpv4(ethernet.payload);
      if (typeof ip === 'string') throw new Error(`network sent a bad IPv4 packet: ${ip}`);
      if (ip.protocol === IP_PROTOCOL_UDP) {
        const udp = parseUdp(ip);
        if (typeof udp === 'string') throw new Error(`network sent a bad UDP datagram: ${udp}`);
        this.udp.push({ ip, ...udp });
      } else if (ip.protocol === IP_PROTOCOL_ICMP) {
        const icmp = parseIcmp(ip.payload);
        if (typeof icmp === 'string') throw new Error(`network sent a bad ICMP message: ${icmp}`);
        this.icmp.push({ ip, sourcePort: 0, destinationPort: 0, payload: icmp.message });
        if (icmp.type === ICMP_ECHO_REQUEST && ip.destination === this.address && this.address !== 0) {
          this.echoReply(ip.source, icmp.message);
        }
      } else if (ip.protocol === IP_PROTOCOL_TCP) {
        const segment = parseTcp(ip);
        if (typeof segment === 'string') throw new Error(`network sent a bad TCP segment: ${segment}`);
        const endpoint = this.tcp.get(segment.destinationPort);
        if (endpoint) endpoint.segment(segment, ip.source);
        else if (this.refuseClosedPorts && segment.flags & TCP_SYN) this.refuse(segment, ip.source);
      }
    }
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  // ---- what the guest sends ----

  /** A RST|ACK for a SYN to a port without a server, as a guest's kernel answers (RFC 9293 §3.10.7.1). */
  private refuse(syn: TcpSegment, source: number): void {
    this.send(
      buildTcp(
        GATEWAY_MAC,
        this.mac,
        this.address,
        source,
        {
          sourcePort: syn.destinationPort,
          destinationPort: syn.sourcePort,
          sequence: 0,
          acknowledgment: (syn.sequence + 1) >>> 0,
          flags: TCP_RST | TCP_ACK,
          window: 0,
        },
        [],
      ),
    );
  }

  arpRequest(target: number): void {
    this.send(
      buildArp(BROADCAST_MAC, this.mac, {
        operation: ARP_REQUEST,
        senderMac: this.mac,
        senderIp: this.address,
        targetMac: new Uint8Array(6),
        targetIp: target,
      }),
    );
  }

  /** A DHCP message (DISCOVER 1, REQUEST 3, RELEASE 7) as busybox udhcpc sends it. */
  dhcp(type: number, options: { requested?: number; server?: number; xid?: number } = {}): void {
    const message = new Uint8Array(300);
    const view = new DataView(message.buffer);
    message.set([1, 1, 6, 0]);
    view.setUint32(4, options.xid ?? 0x1234abcd);
    view.setUint16(10, 0x8000); // broadcast flag
    if (type === 7) view.setUint32(12, this.address);
    message.set(this.mac, 28);
    view.setUint32(236, 0x63825363);
    let at = 240;
    message.set([53, 1, type], at);
    at += 3;
    if (options.requested !== undefined) {
      message.set([50, 4], at);
      view.setUint32(at + 2, options.requested);
      at += 6;
    }
    if (options.server !== undefined) {
      message.set([54, 4], at);
      view.setUint32(at + 2, options.server);
      at += 6;
    }
    message.set([55, 4, 1, 3, 6, 51, 255], at);
    const source = type === 7 ? this.address : 0;
    const destination = type === 7 ? options.server! : 0xffffffff;
    this.send(buildUdp(BROADCAST_MAC, this.mac, source, 68, destination, 67, message));
  }

  sendUdp(destination: number, sourcePort: number, destinationPort: number, payload: Uint8Array): void {
    this.send(
      buildUdp(this.macFor(destination), this.mac, this.address, sourcePort, destination, destinationPort, payload),
    );
  }

  /** An echo reply to `request` (RFC 792: the request's message with type 0 and a new checksum). */
  private echoReply(destination: number, request: Uint8Array): void {
    const frame = ipv4Frame(
      this.macFor(destination),
      this.mac,
      this.address,
      destination,
      IP_PROTOCOL_ICMP,
      request.length,
    );
    const message = frame.subarray(IPV4_PAYLOAD_OFFSET);
    message.set(request);
    message[0] = ICMP_ECHO_REPLY;
    message[2] = message[3] = 0;
    new DataView(message.buffer, message.byteOffset).setUint16(2, internetChecksum(message));
    this.send(frame);
  }

  ping(destination: number, identifier: number, sequence: number, data: Uint8Array): void {
    const frame = ipv4Frame(
      this.macFor(destination),
      this.mac,
      this.address,
      destination,
      IP_PROTOCOL_ICMP,
      8 + data.byteLength,
    );
    const message = frame.subarray(IPV4_PAYLOAD_OFFSET);
    const view = new DataView(message.buffer, message.byteOffset);
    message[0] = ICMP_ECHO_REQUEST;
    view.setUint16(4, identifier);
    view.setUint16(6, sequence);
    message.set(data, 8);
    view.setUint16(2, internetChecksum(message));
    this.send(frame);
  }

  /** A TCP client on `localPort`; `connect` sends its SYN. */
  tcpClient(localPort: number, remote: number, remotePort: number, options: GuestTcpOptions = {}): GuestTcp {
    const client = new GuestTcp(this, localPort, remote, remotePort, options);
    this.tcp.set(localPort, client);
    return client;
  }

  /** A TCP server on `port`: the next SYN to it is answered. */
  tcpServer(port: number, options: GuestTcpOptions = {}): GuestTcp {
    const server = new GuestTcp(this, port, 0, 0, options);
    server.listening = true;
    this.tcp.set(port, server);
    return server;
  }
}

export interface GuestTcpOptions {
  /** The window this guest advertises (default 65535). */
  readonly window?: number;
  /** The MSS this guest announces (default 1460). */
  readonly mss?: number;
  /** When false, received bytes stay unread and shrink the window until `read()`. */
  readonly autoRead?: boolean;
}

/** A deliberately simple TCP endpoint for the guest side of tests: in order only, go-back on a timer. */
export class GuestTcp {
  readonly received: Uint8Array[] = [];
  receivedBytes = 0;
  unreadBytes = 0;
  established = false;
  finReceived = false;
  resetReceived = false;
  listening = false;
  /** Bytes the network sent past the window this guest advertised (a 1-byte probe of a shut window aside). */
  bytesPastWindow = 0;
  private advertisedWindow = 0;
  /** The windows the network advertised, in order. */
  readonly windowsSeen: number[] = [];
  private readonly guest: ScriptedGuest;
  private readonly localPort: number;
  private remote: number;
  private remotePort: number;
  private readonly window: number;
  private readonly mss: number;
  private readonly autoRead: boolean;
  private readonly iss = 1_000_000;
  private sndUna = this.iss;
  private sndNxt = this.iss;
  private rcvNxt = 0;
  private peerWindow = 0;
  private outgoing = new Uint8Array(0);
  private closing = false;
  private finSent = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastUna = -1;

  constructor(guest: ScriptedGuest, localPort: number, remote: number, remotePort: number, options: GuestTcpOptions) {
    this.guest = guest;
    this.localPort = localPort;
    this.remote = remote;
    this.remotePort = remotePort;
    this.window = options.window ?? 65535;
    this.mss = options.mss ?? 1460;
    this.autoRead = options.autoRead ?? true;
  }

  connect(): void {
    this.emit(TCP_SYN, this.iss, new Uint8Array(0), true);
    this.sndNxt = this.iss + 1;
    this.startTimer();
  }

  /** Queues bytes to send (a copy is not made: do not change them). */
  write(data: Uint8Array): void {
    const joined = new Uint8Array(this.outgoing.byteLength + data.byteLength);
    joined.set(this.outgoing);
    joined.set(data, this.outgoing.byteLength);
    this.outgoing = joined;
    this.flush();
  }

  /** Sends FIN after the written bytes. */
  close(): void {
    this.closing = true;
    this.flush();
  }

  reset(): void {
    this.emit(TCP_RST | TCP_ACK, this.sndNxt, new Uint8Array(0));
    this.stop();
  }

  /** Reads everything received (the window opens again). */
  read(): void {
    this.unreadBytes = 0;
    this.emit(TCP_ACK, this.sndNxt, new Uint8Array(0));
  }

  bytes(): Uint8Array {
    const all = new Uint8Array(this.receivedBytes);
    let at = 0;
    for (const chunk of this.received) {
      all.set(chunk, at);
      at += chunk.byteLength;
    }
    return all;
  }

  /** All written bytes (and the FIN, once closing) are acknowledged. */
  get allAcknowledged(): boolean {
    return this.sndUna === this.iss + 1 + this.outgoing.byteLength + (this.finSent ? 1 : 0);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  segment(segment: TcpSegment, source: number): void {
    this.windowsSeen.push(segment.window);
    if (segment.flags & TCP_RST) {
      this.resetReceived = true;
      this.stop();
      return;
    }
    if (this.listening && segment.flags & TCP_SYN && !(segment.flags & TCP_ACK)) {
      this.listening = false;
      this.remote = source;
      this.remotePort = segment.sourcePort;
      this.rcvNxt = segment.sequence + 1;
      this.peerWindow = segment.window;
      this.emit(TCP_SYN | TCP_ACK, this.iss, new Uint8Array(0), true);
      this.sndNxt = this.iss + 1;
      this.startTimer();
      return;
    }
    if (segment.flags & TCP_SYN) {
      if (!this.established) {
        this.rcvNxt = (segment.sequence + 1) >>> 0;
        this.established = true;
      }
      this.sndUna = Math.max(this.sndUna, segment.acknowledgment);
      this.peerWindow = segment.window;
      this.emit(TCP_ACK, this.sndNxt, new Uint8Array(0));
      this.flush();
      return;
    }
    if (!(segment.flags & TCP_ACK)) return;
    if (!this.established && segment.acknowledgment === this.iss + 1) this.established = true;
    if (segment.acknowledgment > this.sndUna && segment.acknowledgment <= this.sndNxt)
      this.sndUna = segment.acknowledgment;
    this.peerWindow = segment.window;
    const length = segment.payload.byteLength + (segment.flags & TCP_FIN ? 1 : 0);
    if (length > 0) {
      const end = segment.sequence + segment.payload.byteLength - this.rcvNxt;
      const probe = this.advertisedWindow === 0 && segment.payload.byteLength === 1;
      if (this.established && end > this.advertisedWindow && !probe)
        this.bytesPastWindow += end - this.advertisedWindow;
      if (segment.sequence === this.rcvNxt && !this.finReceived) {
        const room = this.window - this.unreadBytes;
        const take = segment.payload.subarray(0, Math.max(0, room));
        if (take.byteLength > 0) {
          this.received.push(take.slice());
          this.receivedBytes += take.byteLength;
          if (!this.autoRead) this.unreadBytes += take.byteLength;
          this.rcvNxt += take.byteLength;
        }
        if (segment.flags & TCP_FIN && take.byteLength === segment.payload.byteLength) {
          this.finReceived = true;
          this.rcvNxt += 1;
        }
      }
      this.emit(TCP_ACK, this.sndNxt, new Uint8Array(0));
    }
    this.flush();
  }

  private flush(): void {
    if (!this.established) return;
    const end = this.iss + 1 + this.outgoing.byteLength;
    while (this.sndNxt < end && this.sndNxt - this.sndUna < this.peerWindow) {
      const length = Math.min(this.mss, end - this.sndNxt, this.peerWindow - (this.sndNxt - this.sndUna));
      const offset = this.sndNxt - this.iss - 1;
      this.emit(TCP_ACK | TCP_PSH, this.sndNxt, this.outgoing.subarray(offset, offset + length));
      this.sndNxt += length;
    }
    if (this.closing && !this.finSent && this.sndNxt === end) {
      this.finSent = true;
      this.emit(TCP_FIN | TCP_ACK, this.sndNxt, new Uint8Array(0));
      this.sndNxt += 1;
    }
  }

  private startTimer(): void {
    // Go back to the oldest unacknowledged byte when nothing moved for 50 ms.
    this.timer ??= setInterval(() => {
      if (this.sndUna === this.lastUna && this.sndUna < this.sndNxt) {
        this.sndNxt = this.sndUna;
        if (!this.established) {
          this.connect();
          return;
        }
        this.finSent = false;
        this.flush();
      }
      this.lastUna = this.sndUna;
    }, 50);
  }

  private emit(flags: number, sequence: number, payload: Uint8Array, syn = false): void {
    const window = Math.max(0, this.window - this.unreadBytes);
    this.advertisedWindow = Math.min(window, 0xffff);
    this.guest.send(
      buildTcp(
        this.guest.macFor(this.remote),
        this.guest.mac,
        this.guest.address,
        this.remote,
        {
          sourcePort: this.localPort,
          destinationPort: this.remotePort,
          sequence: sequence >>> 0,
          acknowledgment: flags & TCP_ACK ? this.rcvNxt >>> 0 : 0,
          flags,
          window: Math.min(window, 0xffff),
          ...(syn ? { mss: this.mss } : {}),
        },
        payload.byteLength > 0 ? [payload] : [],
      ),
    );
  }
}
