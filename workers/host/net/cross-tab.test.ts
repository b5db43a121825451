import { afterEach, describe, expect, it } from 'vitest';
import { BrowserNetwork } from './browser-network.ts';
import { CrossTabTrunk } from './cross-tab.ts';
import { ARP_REPLY, BROADCAST_MAC, buildUdp, ipv4, type Mac } from './frames.ts';
import { leaseLockName, LockLeasePool, type LockManagerLike } from './lease-pool.ts';
import { EthernetSwitch } from './switch.ts';
import { ScriptedGuest } from './test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS, GATEWAY_MAC } from './user-network.ts';

const A = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xa);
const B = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xb);
const C = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xc);

/** Web Locks as one origin's tabs share them: `ifAvailable` requests, held until the callback's promise settles. */
class FakeLocks implements LockManagerLike {
  readonly held = new Set<string>();

  request(name: string, _options: { readonly ifAvailable: true }, callback: (lock: unknown) => Promise<void> | void) {
    return Promise.resolve().then(async () => {
      if (this.held.has(name)) return callback(null);
      this.held.add(name);
      try {
        await callback({ name });
      } finally {
        this.held.delete(name);
      }
    });
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

let channelCount = 0;
const open: { close(): void }[] = [];

/** A tab's network on the shared channel name and locks, as `pageNetwork` makes it. */
function tab(locks: FakeLocks, name: string): BrowserNetwork {
  const network = new BrowserNetwork({
    origin: 'http://app.test',
    fetch: () => Promise.reject(new Error('no fetch')),
    tabs: { channel: new BroadcastChannel(name), locks },
  });
  open.push(network);
  return network;
}

function guestOn(network: BrowserNetwork, mac: Mac, notices: string[] = []): ScriptedGuest {
  const guest = new ScriptedGuest(mac);
  guest.network = network.hook((line) => notices.push(line))({ toGuest: guest });
  return guest;
}

const dhcpType = (payload: Uint8Array) => payload[242];
const yourAddress = (payload: Uint8Array) => new DataView(payload.buffer, payload.byteOffset).getUint32(16);

/** DISCOVER, then REQUEST of the offer: the address the guest was given. */
async function lease(guest: ScriptedGuest): Promise<number> {
  const before = guest.udp.length;
  guest.dhcp(1);
  await guest.until(() => guest.udp.slice(before).some((d) => dhcpType(d.payload) === 2), 2000, 'DHCPOFFER');
  const offered = yourAddress(guest.udp.slice(before).find((d) => dhcpType(d.payload) === 2)!.payload);
  guest.dhcp(3, { requested: offered, server: GATEWAY_ADDRESS });
  await guest.until(() => guest.udp.slice(before).some((d) => dhcpType(d.payload) === 5), 2000, 'DHCPACK');
  guest.address = offered;
  return offered;
}

afterEach(() => {
  for (const each of open.splice(0)) each.close();
});

describe('VMs of two tabs on one Ethernet (CrossTabTrunk, LockLeasePool)', () => {
  it('gives each tab’s guest its own address, and carries ARP, ping and a TCP transfer between them', async () => {
    const locks = new FakeLocks();
    const name = `tabvm-test-${channelCount++}`;
    const [one, two] = [tab(locks, name), tab(locks, name)];
    await settle();
    const a = guestOn(one, A);
    const b = guestOn(two, B);
    const addressA = await lease(a);
    const addressB = await lease(b);
    expect(addressA).toBe(ipv4('10.0.2.15'));
    expect(addressB).not.toBe(addressA);
    // Each tab's DHCP server answered its own guest only: one OFFER and one ACK each.
    for (const guest of [a, b]) expect(guest.udp.filter((d) => d.sourcePort === 67).length).toBe(2);

    // ARP for the gateway is answered by the tab's own network, once.
    a.arpRequest(GATEWAY_ADDRESS);
    await a.until(() => a.arpReplies.some((arp) => arp.operation === ARP_REPLY), 2000, 'the gateway’s ARP reply');
    await settle();
    const gatewayReplies = a.arpReplies.filter(
      (arp) => arp.operation === ARP_REPLY && arp.senderIp === GATEWAY_ADDRESS,
    );
    expect(gatewayReplies.length).toBe(1);

    // ARP for the other tab's guest crosses and is answered by it.
    a.arpRequest(addressB);
    await a.until(() => a.arpReplies.some((arp) => arp.operation === ARP_REPLY && arp.senderIp === addressB));
    const reply = a.arpReplies.find((arp) => arp.operation === ARP_REPLY && arp.senderIp === addressB)!;
    expect([...reply.senderMac]).toEqual([...B]);
    a.neighbours.set(addressB, B);

    // Ping both ways.
    a.ping(addressB, 7, 1, Uint8Array.of(1, 2, 3));
    await a.until(() => a.icmp.some((m) => m.ip.source === addressB && m.payload[0] === 0), 2000, 'B’s echo reply');
    b.ping(addressA, 8, 1, Uint8Array.of(4, 5, 6));
    await b.until(() => b.icmp.some((m) => m.ip.source === addressA && m.payload[0] === 0), 2000, 'A’s echo reply');

    // A TCP transfer, 256 KiB from B's server to A's client, in order and whole.
    const server = b.tcpServer(8080);
    const client = a.tcpClient(40000, addressB, 8080);
    client.connect();
    await a.until(() => client.established, 2000, 'the connection');
    const data = Uint8Array.from({ length: 256 * 1024 }, (_, i) => (i * 7) & 0xff);
    server.write(data);
    await a.until(() => client.receivedBytes === data.length, 10_000, 'the transfer');
    expect(client.bytes()).toEqual(data);
    // None of it went through either tab's user-mode network.
    expect(one.network.connectionCount + two.network.connectionCount).toBe(0);
  });

  it('refuses what is not a guest’s frame on the channel', async () => {
    const ethernet = new EthernetSwitch();
    const got: Uint8Array[] = [];
    ethernet.attach({ receive: (frame) => got.push(frame.slice()) });
    const name = `tabvm-test-${channelCount++}`;
    const trunk = new CrossTabTrunk(ethernet, new BroadcastChannel(name), { id: 'me' });
    open.push(trunk);
    const other = new BroadcastChannel(name);
    open.push(other);
    const frame = (source: Mac, length = 60) => {
      const bytes = new Uint8Array(length);
      bytes.set(BROADCAST_MAC, 0);
      bytes.set(source, 6);
      return bytes;
    };
    for (const message of [
      'garbage',
      null,
      { kind: 'frame', from: 'them', to: null, frame: Array.from(frame(A)) }, // not bytes
      { kind: 'frame', from: 'them', to: null, frame: frame(A, 13) }, // a runt
      { kind: 'frame', from: 'them', to: null, frame: frame(A, 1519) }, // longer than Ethernet's 1518
      { kind: 'frame', from: 'them', to: null, frame: frame(Uint8Array.of(1, 0, 0x5e, 0, 0, 1)) }, // multicast source
      { kind: 'frame', from: 'them', to: null, frame: frame(GATEWAY_MAC) }, // another tab's gateway
      { kind: 'frame', from: 'me', to: null, frame: frame(A) }, // this tab's own id
      { kind: 'frame', from: 'them', to: 'someone else', frame: frame(A) }, // for another tab
      { kind: 'frame', from: 'x'.repeat(65), to: null, frame: frame(A) }, // an id too long
      { kind: 'frame', from: 'them', to: null, frame: frame(C) }, // the one good frame
    ])
      other.postMessage(message);
    await settle();
    expect(got.length).toBe(1);
    expect([...got[0]!.subarray(6, 12)]).toEqual([...C]);
    expect(trunk.drops.get('not a trunk message')).toBe(6);
    expect(trunk.drops.get('source address multicast')).toBe(1);
    expect(trunk.drops.get("source address the gateway's")).toBe(1);
    expect(trunk.drops.get('from this tab')).toBe(1);
  });

  it('sends unicast to the tab the address was seen from, and forgets a tab that said bye', async () => {
    const name = `tabvm-test-${channelCount++}`;
    const seen = new BroadcastChannel(name);
    open.push(seen);
    const posted: { to: string | null }[] = [];
    seen.addEventListener('message', (event) => posted.push(event.data as { to: string | null }));
    const ethernet = new EthernetSwitch();
    const local = ethernet.attach({ receive() {} });
    const trunk = new CrossTabTrunk(ethernet, new BroadcastChannel(name), { id: 'me' });
    open.push(trunk);
    const remote = new BroadcastChannel(name);
    open.push(remote);
    const fromC = new Uint8Array(60);
    fromC.set(BROADCAST_MAC, 0);
    fromC.set(C, 6);
    remote.postMessage({ kind: 'frame', from: 'them', to: null, frame: fromC });
    await settle();
    const toC = new Uint8Array(60);
    toC.set(C, 0);
    toC.set(A, 6);
    local.receive(toC);
    await settle();
    remote.postMessage({ kind: 'bye', from: 'them' });
    await settle();
    local.receive(toC);
    await settle();
    const mine = posted.filter((message) => (message as { from?: string }).from === 'me');
    expect(mine.map((message) => message.to)).toEqual(['them', null]);
  });

  it('a closed tab gives its addresses back; an address another tab holds is NAKed, one being asked for is silent', async () => {
    const locks = new FakeLocks();
    const name = `tabvm-test-${channelCount++}`;
    const one = tab(locks, name);
    await settle();
    const a = guestOn(one, A);
    expect(await lease(a)).toBe(ipv4('10.0.2.15'));
    const two = tab(locks, name);
    await settle();
    const b = guestOn(two, B);
    // B reboots asking for A's address (INIT-REBOOT: a REQUEST without a server id): the pool found its
    // lock held when it filled its reserve, so the answer is a NAK at once.
    b.dhcp(3, { requested: ipv4('10.0.2.15') });
    await b.until(() => b.udp.some((d) => dhcpType(d.payload) === 6), 2000, 'DHCPNAK');
    // B asks for a free address the pool does not hold: silent first, then ACKed on the retry.
    b.dhcp(3, { requested: ipv4('10.0.2.29') });
    await settle();
    expect(b.udp.some((d) => dhcpType(d.payload) === 5)).toBe(false);
    b.dhcp(3, { requested: ipv4('10.0.2.29') });
    await b.until(() => b.udp.some((d) => dhcpType(d.payload) === 5), 2000, 'DHCPACK');
    expect(yourAddress(b.udp.find((d) => dhcpType(d.payload) === 5)!.payload)).toBe(ipv4('10.0.2.29'));
    expect(locks.held.has(leaseLockName(ipv4('10.0.2.29')))).toBe(true);

    // The first tab closes and says so: its locks go, and a new guest of the second tab may have .15.
    open.splice(open.indexOf(one), 1);
    one.close();
    await settle();
    expect(locks.held.has(leaseLockName(ipv4('10.0.2.15')))).toBe(false);
    const c = guestOn(two, C);
    c.dhcp(3, { requested: ipv4('10.0.2.15') });
    await settle();
    c.dhcp(3, { requested: ipv4('10.0.2.15') });
    await c.until(() => c.udp.some((d) => dhcpType(d.payload) === 5), 2000, 'DHCPACK of .15');
  });
});

describe('LockLeasePool', () => {
  it('when other tabs hold every address, a new client gets none and the pane a line that says why', async () => {
    const locks = new FakeLocks();
    for (let n = 15; n <= 30; n++) locks.held.add(leaseLockName(ipv4(`10.0.2.${n}`)));
    const network = tab(locks, `tabvm-test-${channelCount++}`);
    await settle();
    const notices: string[] = [];
    const guest = guestOn(network, A, notices);
    guest.dhcp(1);
    await settle();
    expect(guest.udp).toEqual([]);
    expect(notices).toEqual([
      "network: all 16 DHCP addresses are leased by the VMs of this site's tabs; a new client got none",
    ]);
  });

  it('holds a reserve, asks for more as addresses are leased, and reports a lease another tab holds', async () => {
    const locks = new FakeLocks();
    const addresses = [1, 2, 3, 4, 5].map((n) => ipv4(`10.0.2.${14 + n}`));
    const elsewhere = new LockLeasePool({ locks, addresses: [addresses[1]!], reserve: 1 });
    await settle();
    const conflicts: number[] = [];
    const pool = new LockLeasePool({ locks, addresses, reserve: 2, onConflict: (address) => conflicts.push(address) });
    expect(pool.mayLease(addresses[0]!, false)).toBe('asking');
    await settle();
    expect(pool.held).toEqual([addresses[0], addresses[2]]); // .16 is the other pool's
    expect(pool.mayLease(addresses[1]!, false)).toBe('no');
    pool.leased(addresses[0]!);
    await settle();
    expect(pool.held).toEqual([addresses[0], addresses[2], addresses[3]]);
    // A restored guest's address that the other pool holds: leased here all the same, and reported.
    pool.leased(addresses[1]!);
    await settle();
    expect(conflicts).toEqual([addresses[1]]);
    pool.released(addresses[0]!); // kept as the reserve's third: released only past the reserve
    expect(pool.held).toEqual([addresses[0], addresses[2], addresses[3]]);
    pool.close();
    elsewhere.close();
    await settle();
    expect(locks.held.size).toBe(0);
  });
});

describe('Leases of restored guests', () => {
  it('a restored guest’s address (its snapshot’s lease) is not given to a new guest', async () => {
    const network = new BrowserNetwork({ origin: 'http://app.test', fetch: () => Promise.reject(new Error('no')) });
    open.push(network);
    const restored = new ScriptedGuest(A);
    restored.network = network.hook(() => {})({
      toGuest: restored,
      lease: { mac: '52:54:00:00:00:0a', address: '10.0.2.15' },
    });
    const fresh = guestOn(network, B);
    expect(await lease(fresh)).toBe(ipv4('10.0.2.16'));
    // The restored guest renews its own address: ACKed.
    restored.address = ipv4('10.0.2.15');
    restored.dhcp(3, { requested: ipv4('10.0.2.15') });
    await restored.until(() => restored.udp.some((d) => dhcpType(d.payload) === 5), 2000, 'DHCPACK');
  });

  it('a restored guest without a lease in its snapshot claims its address with its first frame', async () => {
    const network = new BrowserNetwork({ origin: 'http://app.test', fetch: () => Promise.reject(new Error('no')) });
    open.push(network);
    const restored = guestOn(network, A);
    restored.address = ipv4('10.0.2.15');
    restored.sendUdp(ipv4('10.0.2.3'), 5353, 53, new Uint8Array(12));
    const fresh = guestOn(network, B);
    expect(await lease(fresh)).toBe(ipv4('10.0.2.16'));
  });

  it('a lease the page already gave someone else is reported', () => {
    const network = new BrowserNetwork({ origin: 'http://app.test', fetch: () => Promise.reject(new Error('no')) });
    open.push(network);
    const first = new ScriptedGuest(A);
    network.hook(() => {})({ toGuest: first, lease: { mac: '52:54:00:00:00:0a', address: '10.0.2.15' } });
    const notices: string[] = [];
    network.hook((line) => notices.push(line))({
      toGuest: new ScriptedGuest(B),
      lease: { mac: '52:54:00:00:00:0b', address: '10.0.2.15' },
    });
    expect(notices).toEqual(['network: the restored VM has 10.0.2.15, which another VM of this page has too']);
  });
});

describe('the switch’s isolated ports', () => {
  it('never exchange frames with each other, only with the rest', () => {
    const ethernet = new EthernetSwitch();
    const got = { x: 0, y: 0, guest: 0 };
    const x = ethernet.attach({ receive: () => got.x++ }, { isolated: true });
    ethernet.attach({ receive: () => got.y++ }, { isolated: true });
    const guest = ethernet.attach({ receive: () => got.guest++ });
    x.receive(buildUdp(BROADCAST_MAC, C, 0, 1, 0xffffffff, 2, new Uint8Array(4))); // flood: the guest only
    guest.receive(buildUdp(BROADCAST_MAC, A, 0, 1, 0xffffffff, 2, new Uint8Array(4))); // flood: both isolated
    x.receive(buildUdp(A, C, 0, 1, 0, 2, new Uint8Array(4))); // A learnt on the guest's port
    expect(got).toEqual({ x: 1, y: 1, guest: 2 });
    // Another tab's VM with the guest's own address (one pre-booted snapshot): dropped, and A stays here.
    x.receive(buildUdp(BROADCAST_MAC, A, 0, 1, 0xffffffff, 2, new Uint8Array(4)));
    ethernet.attach({ receive() {} }).receive(buildUdp(A, C, 0, 1, 0, 2, new Uint8Array(4)));
    expect(got).toEqual({ x: 1, y: 1, guest: 3 });
  });
});
