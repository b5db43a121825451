import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDnsAnswer, NameNotFound, parseDnsQuery, type Resolver } from './dns.ts';
import { ARP_REPLY, buildTcp, ICMP_ECHO_REPLY, ipv4, ipv4ToString, TCP_ACK, TCP_RST } from './frames.ts';
import { MemoryPeer, MemorySockets } from './test-support/memory-sockets.ts';
import { ScriptedGuest } from './test-support/scripted-guest.ts';
import { DNS_ADDRESS, GATEWAY_ADDRESS, GATEWAY_MAC, UserNetwork, type UserNetworkOptions } from './user-network.ts';

const GUEST_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
const OTHER_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x57);
const GUEST = ipv4('10.0.2.15');
const REMOTE = ipv4('93.184.215.14');

const resolver: Resolver = {
  resolve4(name) {
    if (name === 'example.org') return Promise.resolve([REMOTE]);
    return Promise.reject(new NameNotFound(name));
  },
};

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

let networks: UserNetwork[] = [];
afterEach(() => {
  for (const network of networks) network.reset();
  networks = [];
});

function setup(options: Partial<UserNetworkOptions> = {}, mac = GUEST_MAC) {
  const sockets = new MemorySockets();
  const guest = new ScriptedGuest(mac);
  const notices: string[] = [];
  const network = new UserNetwork(guest, {
    provider: sockets,
    resolver,
    onNotice: (text) => notices.push(text),
    retransmitMs: 30,
    ...options,
  });
  guest.network = network;
  networks.push(network);
  return { sockets, guest, network, notices };
}

/** DISCOVER, OFFER, REQUEST, ACK: the guest ends with its address. */
async function lease(guest: ScriptedGuest): Promise<number> {
  guest.dhcp(1);
  await guest.until(() => guest.udp.some((d) => d.payload[242] === 2), 2000, 'DHCPOFFER');
  const offer = guest.udp.find((d) => d.payload[242] === 2)!;
  const offered = new DataView(offer.payload.buffer, offer.payload.byteOffset).getUint32(16);
  guest.dhcp(3, { requested: offered, server: GATEWAY_ADDRESS });
  await guest.until(() => guest.udp.some((d) => d.payload[242] === 5), 2000, 'DHCPACK');
  guest.address = offered;
  return offered;
}

function dhcpOptions(payload: Uint8Array): Map<number, Uint8Array> {
  const options = new Map<number, Uint8Array>();
  for (let i = 240; i < payload.length && payload[i] !== 255;) {
    if (payload[i] === 0) {
      i++;
      continue;
    }
    options.set(payload[i]!, payload.subarray(i + 2, i + 2 + payload[i + 1]!));
    i += 2 + payload[i + 1]!;
  }
  return options;
}

describe('UserNetwork: DHCP, ARP, ICMP, DNS', () => {
  it('leases 10.0.2.15 to the first MAC and 10.0.2.16 to a second, with router, DNS, mask and lease time', async () => {
    const guest = new ScriptedGuest(GUEST_MAC);
    const second = new ScriptedGuest(OTHER_MAC);
    // Two guests on one link: each sees every frame and keeps those for its MAC or broadcast.
    const network = new UserNetwork(
      { receive: (frame) => (guest.receive(frame), second.receive(frame)) },
      { provider: new MemorySockets(), resolver },
    );
    networks.push(network);
    guest.network = second.network = network;
    expect(ipv4ToString(await lease(guest))).toBe('10.0.2.15');
    const ack = guest.udp.find((d) => d.payload[242] === 5)!;
    expect(ack.ip.source).toBe(GATEWAY_ADDRESS);
    expect(ack.destinationPort).toBe(68);
    const options = dhcpOptions(ack.payload);
    expect([...options.get(1)!]).toEqual([255, 255, 255, 0]);
    expect([...options.get(3)!]).toEqual([10, 0, 2, 2]);
    expect([...options.get(6)!]).toEqual([10, 0, 2, 3]);
    expect([...options.get(54)!]).toEqual([10, 0, 2, 2]);
    expect(new DataView(options.get(51)!.buffer, options.get(51)!.byteOffset).getUint32(0)).toBe(86400);

    expect(ipv4ToString(await lease(second))).toBe('10.0.2.16');
    // The first MAC asking again keeps its address.
    guest.udp.length = 0;
    guest.address = 0;
    expect(ipv4ToString(await lease(guest))).toBe('10.0.2.15');
  });

  it('NAKs a REQUEST for an address that is not the client’s', async () => {
    const { guest } = setup();
    await lease(guest);
    guest.dhcp(3, { requested: ipv4('10.0.2.99'), server: GATEWAY_ADDRESS });
    await guest.until(() => guest.udp.some((d) => d.payload[242] === 6), 2000, 'DHCPNAK');
  });

  it('answers ARP for the gateway and the DNS address with its MAC, and nothing else', async () => {
    const { guest, network } = setup();
    guest.address = GUEST;
    guest.arpRequest(GATEWAY_ADDRESS);
    guest.arpRequest(DNS_ADDRESS);
    guest.arpRequest(ipv4('10.0.2.77'));
    await guest.until(() => guest.arpReplies.length >= 2, 2000, 'ARP replies');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(guest.arpReplies.map((arp) => [arp.operation, ipv4ToString(arp.senderIp), [...arp.senderMac]])).toEqual([
      [ARP_REPLY, '10.0.2.2', [...GATEWAY_MAC]],
      [ARP_REPLY, '10.0.2.3', [...GATEWAY_MAC]],
    ]);
    expect(network.drops.get('ARP request for an address nobody has')).toBe(1);
  });

  it('answers pings to 10.0.2.2 and 10.0.2.3 with the same data', async () => {
    const { guest } = setup();
    guest.address = GUEST;
    const data = pattern(56, 3);
    guest.ping(GATEWAY_ADDRESS, 0x77, 1, data);
    guest.ping(DNS_ADDRESS, 0x77, 2, data);
    await guest.until(() => guest.icmp.length === 2, 2000, 'echo replies');
    for (const [i, reply] of guest.icmp.entries()) {
      expect(reply.payload[0]).toBe(ICMP_ECHO_REPLY);
      expect(new DataView(reply.payload.buffer, reply.payload.byteOffset).getUint16(6)).toBe(i + 1);
      expect(sha256(reply.payload.subarray(8))).toBe(sha256(data));
    }
    expect(guest.icmp.map((reply) => ipv4ToString(reply.ip.source))).toEqual(['10.0.2.2', '10.0.2.3']);
  });

  it('resolves names at 10.0.2.3 through the resolver: A, NXDOMAIN, empty AAAA', async () => {
    const { guest } = setup();
    guest.address = GUEST;
    const question = (id: number, name: string, type: number): Uint8Array => {
      const labels = name.split('.').flatMap((label) => [label.length, ...Buffer.from(label)]);
      return Uint8Array.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]);
    };
    guest.sendUdp(DNS_ADDRESS, 40000, 53, question(1, 'Example.org', 1));
    guest.sendUdp(DNS_ADDRESS, 40000, 53, question(2, 'nowhere.invalid', 1));
    guest.sendUdp(DNS_ADDRESS, 40000, 53, question(3, 'example.org', 28));
    await guest.until(() => guest.udp.length === 3, 2000, 'DNS answers');
    const byId = new Map(guest.udp.map((d) => [(d.payload[0]! << 8) | d.payload[1]!, d.payload]));
    const a = byId.get(1)!;
    expect(a[3]! & 0x0f).toBe(0);
    expect((a[6]! << 8) | a[7]!).toBe(1);
    expect([...a.subarray(a.length - 4)]).toEqual([93, 184, 215, 14]);
    expect(byId.get(2)![3]! & 0x0f).toBe(3);
    expect(byId.get(3)![3]! & 0x0f).toBe(0);
    expect((byId.get(3)![6]! << 8) | byId.get(3)![7]!).toBe(0);
    expect(
      guest.udp.every((d) => d.ip.source === DNS_ADDRESS && d.sourcePort === 53 && d.destinationPort === 40000),
    ).toBe(true);
  });

  it('refuses compressed or overlong question names and answers within 512 bytes', () => {
    const header = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    expect(parseDnsQuery(Uint8Array.from([...header, 0xc0, 12, 0, 1, 0, 1]))).toMatch(/compressed/);
    const long = Array.from({ length: 5 }, () => [63, ...new Array<number>(63).fill(97)]).flat();
    expect(parseDnsQuery(Uint8Array.from([...header, ...long, 0, 0, 1, 0, 1]))).toMatch(/255/);
    expect(parseDnsQuery(Uint8Array.from([...header, 3, 97, 98]))).toMatch(/truncated/);
    const query = parseDnsQuery(Uint8Array.from([...header, 1, 97, 0, 0, 1, 0, 1]));
    if (typeof query === 'string') throw new Error(query);
    expect(buildDnsAnswer(query, 0, new Array<number>(100).fill(1)).byteLength).toBeLessThanOrEqual(512);
  });
});

describe('UserNetwork: UDP through the provider', () => {
  it('carries a datagram to a host port and the answer back, and closes idle flows', async () => {
    const { guest, sockets } = setup({ udpIdleMs: 100 });
    guest.address = GUEST;
    sockets.udpHandlers.set(7, (data) => Uint8Array.from(data, (byte) => byte ^ 0xff));
    guest.sendUdp(GATEWAY_ADDRESS, 5555, 7, Uint8Array.of(1, 2, 3));
    await guest.until(() => guest.udp.length === 1, 2000, 'UDP answer');
    expect([...guest.udp[0]!.payload]).toEqual([254, 253, 252]);
    expect(guest.udp[0]!.ip.source).toBe(GATEWAY_ADDRESS);
    expect(guest.udp[0]!.sourcePort).toBe(7);
    expect(guest.udp[0]!.destinationPort).toBe(5555);
    expect(sockets.udpSocketsOpen).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sockets.udpSocketsOpen).toBe(0);
  });

  it('caps the UDP flows and says so once', async () => {
    const { guest, sockets, notices, network } = setup({ maxUdpFlows: 4 });
    guest.address = GUEST;
    for (let port = 1000; port < 1010; port++) guest.sendUdp(REMOTE, port, 9, Uint8Array.of(1));
    expect(sockets.udpSocketsOpen).toBe(4);
    expect(network.drops.get('UDP flow cap reached')).toBe(6);
    expect(notices).toEqual(['network: 4 UDP flows open, the cap; datagrams from new guest ports are dropped']);
  });
});

describe('UserNetwork: TCP', () => {
  it('moves 1 MiB each way with the guest window respected and lost frames resent', async () => {
    const { guest, sockets, network } = setup();
    guest.address = GUEST;
    const upload = pattern(1 << 20, 1);
    const download = pattern(1 << 20, 2);
    sockets.listeners.set(80, (peer) => {
      peer.send(download);
      peer.finish();
    });
    // One frame in 25 is lost, as when the guest's receive ring is full; the guest's window is 8 KiB.
    guest.dropFrame = (index) => index % 25 === 3;
    const client = guest.tcpClient(40001, REMOTE, 80, { window: 8192 });
    client.connect();
    client.write(upload);
    client.close();
    await guest.until(() => client.finReceived && client.allAcknowledged, 60_000, 'both transfers');
    expect(sha256(client.bytes())).toBe(sha256(download));
    const peer = sockets.peers[0]!;
    await guest.until(() => peer.endedByGuest, 2000, 'the guest FIN at the host');
    expect(sha256(peer.bytes())).toBe(sha256(upload));
    expect(guest.droppedFrames).toBeGreaterThan(20);
    expect(network.retransmissions.timer + network.retransmissions.duplicateAcks).toBeGreaterThan(0);
    // Never a byte past the guest's window: every segment's payload fits the 8 KiB window.
    expect(Math.max(...guest.frames.map((frame) => frame.byteLength - 54))).toBeLessThanOrEqual(1460);
    expect(peer.address).toBe(REMOTE);
    expect(client.bytesPastWindow).toBe(0);
    expect(network.connectionCount).toBe(0);
    expect(network.heldBytes).toBe(0);
    client.stop();
  }, 90_000);

  it('never sends past a guest window that closes, and probes until it opens', async () => {
    const { guest, sockets } = setup();
    guest.address = GUEST;
    const download = pattern(100_000, 5);
    sockets.listeners.set(80, (peer) => peer.send(download));
    const client = guest.tcpClient(40002, REMOTE, 80, { window: 10_000, autoRead: false });
    client.connect();
    await guest.until(() => client.receivedBytes === 10_000, 5000, 'a full window');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.receivedBytes).toBe(10_000);
    expect(client.bytesPastWindow).toBe(0);
    client.read();
    await guest.until(() => client.receivedBytes === 20_000, 5000, 'the next window');
    client.stop();
  });

  it('advertises only what the host has taken and reopens the window when it takes more', async () => {
    const { guest, sockets } = setup();
    guest.address = GUEST;
    let peer: MemoryPeer | undefined;
    sockets.listeners.set(80, (accepted) => {
      accepted.autoTake = false;
      peer = accepted;
    });
    const client = guest.tcpClient(40003, REMOTE, 80);
    client.connect();
    client.write(pattern(200_000, 9));
    await guest.until(() => peer !== undefined && peer.pendingBytes === 65535, 5000, 'the host window full');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(peer!.pendingBytes).toBe(65535);
    expect(client.windowsSeen.at(-1)).toBe(0);
    peer!.take();
    await guest.until(() => peer!.receivedBytes + peer!.pendingBytes === 131070, 5000, 'the next 64 KiB');
    client.stop();
  });

  it('answers a refused port with RST, as slirp does', async () => {
    const { guest } = setup();
    guest.address = GUEST;
    const client = guest.tcpClient(40004, REMOTE, 81);
    client.connect();
    await guest.until(() => client.resetReceived, 2000, 'RST');
    expect(client.established).toBe(false);
    client.stop();
  });

  it('answers a segment of no connection with RST and a guest RST ends the host stream', async () => {
    const { guest, sockets } = setup();
    guest.address = GUEST;
    guest.send(
      buildTcp(GATEWAY_MAC, GUEST_MAC, GUEST, REMOTE, {
        sourcePort: 40005,
        destinationPort: 80,
        sequence: 5,
        acknowledgment: 77,
        flags: TCP_ACK,
        window: 100,
      }),
    );
    await guest.until(() => guest.frames.length === 1, 2000, 'RST');
    expect(guest.frames[0]![47]! & TCP_RST).toBe(TCP_RST);
    sockets.listeners.set(80, () => {});
    const client = guest.tcpClient(40006, REMOTE, 80);
    client.connect();
    await guest.until(() => client.established, 2000, 'established');
    client.reset();
    await guest.until(() => sockets.peers[0]!.destroyed, 2000, 'host stream destroyed');
  });

  it('a host reset reaches the guest as RST', async () => {
    const { guest, sockets } = setup();
    guest.address = GUEST;
    sockets.listeners.set(80, (peer) => setTimeout(() => peer.reset(), 20));
    const client = guest.tcpClient(40007, REMOTE, 80);
    client.connect();
    await guest.until(() => client.resetReceived, 2000, 'RST');
    expect(client.established).toBe(true);
    client.stop();
  });

  it('half-close: the host keeps sending after the guest’s FIN', async () => {
    const { guest, sockets } = setup();
    guest.address = GUEST;
    sockets.listeners.set(80, () => {});
    const client = guest.tcpClient(40008, REMOTE, 80);
    client.connect();
    client.write(Uint8Array.of(1, 2, 3));
    client.close();
    await guest.until(() => sockets.peers[0]?.endedByGuest === true, 2000, 'guest FIN');
    const peer = sockets.peers[0]!;
    peer.send(Uint8Array.of(9, 8, 7));
    peer.finish();
    await guest.until(() => client.finReceived, 2000, 'host FIN');
    expect([...client.bytes()]).toEqual([9, 8, 7]);
    expect([...peer.bytes()]).toEqual([1, 2, 3]);
    client.stop();
  });

  it('refuses connections over the cap with RST and says so', async () => {
    const { guest, sockets, notices, network } = setup({ maxConnections: 3 });
    guest.address = GUEST;
    sockets.listeners.set(80, () => {});
    const clients = Array.from({ length: 5 }, (_, i) => guest.tcpClient(41000 + i, REMOTE, 80));
    for (const client of clients) client.connect();
    await guest.until(
      () => clients.filter((c) => c.established).length === 3 && clients.filter((c) => c.resetReceived).length === 2,
      2000,
      'three open, two refused',
    );
    expect(network.connectionCount).toBe(3);
    expect(notices).toEqual(['network: 3 TCP connections open, the cap; new ones are refused']);
    for (const client of clients) client.stop();
  });

  it('pauses the host stream at the buffer cap and refuses new connections while it is full', async () => {
    const { guest, sockets, notices, network } = setup({ maxBufferedBytes: 100_000, sendBufferBytes: 1 << 20 });
    guest.address = GUEST;
    let paused = false;
    sockets.listeners.set(80, (peer) => {
      peer.send(pattern(300_000, 4));
      paused = peer.paused;
    });
    const client = guest.tcpClient(42000, REMOTE, 80, { window: 1000, autoRead: false });
    client.connect();
    await guest.until(() => client.receivedBytes === 1000, 2000, 'a window of data');
    expect(paused).toBe(true);
    expect(network.heldBytes).toBeLessThanOrEqual(100_000 + 65536);
    const second = guest.tcpClient(42001, REMOTE, 80);
    second.connect();
    await guest.until(() => second.resetReceived, 2000, 'RST');
    expect(notices).toEqual(['network: 98 KiB held for TCP connections, the cap; new ones are refused']);
    client.stop();
    second.stop();
  });

  it('opens a forwarded connection to a guest server', async () => {
    const { guest, network } = setup();
    await lease(guest);
    const server = guest.tcpServer(80);
    let peer: MemoryPeer | undefined;
    expect(
      network.openToGuest(80, (events) => {
        peer = new MemoryPeer(events, 0, 0);
        return peer;
      }),
    ).toBe(true);
    await guest.until(() => server.established, 2000, 'the forwarded connection');
    peer!.send(Uint8Array.from(Buffer.from('GET / HTTP/1.0\r\n\r\n')));
    await guest.until(() => server.receivedBytes === 18, 2000, 'request');
    server.write(Uint8Array.from(Buffer.from('hello')));
    server.close();
    await guest.until(() => peer!.receivedBytes === 5 && peer!.endedByGuest, 2000, 'response');
    server.stop();
  });
});

describe('UserNetwork: hostile frames', () => {
  it('drops garbage, truncations and floods by reason and keeps working', async () => {
    const { guest, network, notices } = setup();
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 5000; i++) {
      const frame = Uint8Array.from({ length: Math.floor(random() * 1600) }, () => Math.floor(random() * 256));
      if (i % 2 === 0 && frame.length > 14) frame.set([0x08, i % 4 === 0 ? 0x00 : 0x06], 12);
      if (i % 4 === 0 && frame.length > 34) frame[14] = 0x45;
      network.receive(frame);
    }
    // DISCOVER and ARP from 1 000 MACs bind nothing; REQUESTs bind the 16 addresses and then are refused.
    const flooders = Array.from({ length: 1000 }, (_, i) => {
      const flooder = new ScriptedGuest(Uint8Array.of(2, 0, 0, 0, i >> 8, i & 0xff));
      flooder.network = network;
      return flooder;
    });
    for (const flooder of flooders) {
      flooder.dhcp(1);
      flooder.arpRequest(GATEWAY_ADDRESS);
    }
    expect([...network.drops.keys()].some((reason) => reason.startsWith('internal error'))).toBe(false);
    expect(network.drops.get('Ethernet frame longer than 1518 bytes')).toBeGreaterThan(0);
    expect(network.drops.get('IPv4 header checksum wrong')).toBeGreaterThan(0);
    expect(ipv4ToString(await lease(guest))).toBe('10.0.2.15');
    for (const [i, flooder] of flooders.entries())
      flooder.dhcp(3, { requested: ipv4('10.0.2.16') + (i % 20), server: GATEWAY_ADDRESS });
    guest.udp.length = 0;
    const third = new ScriptedGuest(OTHER_MAC);
    third.network = network;
    third.dhcp(1);
    expect(network.drops.get('DHCP addresses all leased')).toBe(1);
    expect(notices).toEqual(['network: all 16 DHCP addresses are leased; a new client got none']);
    guest.address = GUEST;
    guest.ping(GATEWAY_ADDRESS, 1, 1, Uint8Array.of(1));
    await guest.until(() => guest.icmp.length === 1, 2000, 'a ping after the flood');
  });
});
