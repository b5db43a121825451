import { afterEach, describe, expect, it } from 'vitest';
import { BrowserNetwork } from './browser-network.ts';
import { BROADCAST_MAC, buildUdp, ipv4, type Mac } from './frames.ts';
import type { FramePort } from './link.ts';
import { EthernetSwitch } from './switch.ts';
import { ScriptedGuest } from './test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS } from './user-network.ts';

const A = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xa);
const B = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xb);
const C = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xc);

function frame(destination: Mac, source: Mac, tag: number): Uint8Array {
  const bytes = new Uint8Array(60);
  bytes.set(destination, 0);
  bytes.set(source, 6);
  bytes[14] = tag;
  return bytes;
}

/** A port that records the tags of the frames it gets. */
function recorder(): FramePort & { tags: number[] } {
  const tags: number[] = [];
  return { tags, receive: (bytes) => tags.push(bytes[14]!) };
}

describe('EthernetSwitch', () => {
  it('floods what it has not learnt, then sends unicast to the learnt port only', () => {
    const ethernet = new EthernetSwitch();
    const [a, b, c] = [recorder(), recorder(), recorder()];
    const portA = ethernet.attach(a);
    const portB = ethernet.attach(b);
    ethernet.attach(c);
    portA.receive(frame(B, A, 1)); // B not learnt yet: to every other port
    portB.receive(frame(A, B, 2)); // A learnt: to A only
    portA.receive(frame(B, A, 3)); // B learnt: to B only
    portA.receive(frame(BROADCAST_MAC, A, 4)); // broadcast: every other port
    portA.receive(frame(A, A, 5)); // to its own port: nowhere
    portA.receive(new Uint8Array(10)); // a runt: nowhere
    expect(a.tags).toEqual([2]);
    expect(b.tags).toEqual([1, 3, 4]);
    expect(c.tags).toEqual([1, 4]);
  });

  it('forgets a detached port', () => {
    const ethernet = new EthernetSwitch();
    const [a, b, c] = [recorder(), recorder(), recorder()];
    const portA = ethernet.attach(a);
    const portB = ethernet.attach(b);
    ethernet.attach(c);
    portB.receive(frame(A, B, 1)); // B learnt; A not: flooded
    portB.detach();
    portB.receive(frame(A, B, 2)); // a detached port sends nothing
    portA.receive(frame(B, A, 3)); // B forgotten: flooded, and not to the detached port
    expect(a.tags).toEqual([1]);
    expect(b.tags).toEqual([]);
    expect(c.tags).toEqual([1, 3]);
    expect(ethernet.portCount).toBe(2);
  });

  it('starts its table again when it is full', () => {
    const ethernet = new EthernetSwitch(2);
    const [a, b, c] = [recorder(), recorder(), recorder()];
    const [portA, portB, portC] = [ethernet.attach(a), ethernet.attach(b), ethernet.attach(c)];
    portA.receive(frame(B, A, 1)); // A learnt, B not: flooded
    portB.receive(frame(A, B, 2)); // B learnt, A known: to A only
    portC.receive(frame(A, C, 3)); // a third address: the table of two starts again, so A floods
    expect(a.tags).toEqual([2, 3]);
    expect(b.tags).toEqual([1, 3]);
    expect(c.tags).toEqual([1]);
  });
});

describe('BrowserNetwork: the VMs of a page on one switch', () => {
  let network: BrowserNetwork | undefined;
  afterEach(() => network?.reset());

  it('gives each VM its own lease and carries frames between them, not through the gateway', async () => {
    network = new BrowserNetwork({ origin: 'http://app.test', fetch: () => Promise.reject(new Error('no fetch')) });
    const guests = [new ScriptedGuest(A), new ScriptedGuest(B)];
    const notices: string[][] = [[], []];
    guests.forEach((guest, i) => (guest.network = network!.hook((line) => notices[i]!.push(line))({ toGuest: guest })));
    const addresses: number[] = [];
    for (const guest of guests) {
      guest.dhcp(1);
      await guest.until(() => guest.udp.some((d) => d.payload[242] === 2), 2000, 'DHCPOFFER');
      const offer = guest.udp.find((d) => d.payload[242] === 2)!;
      const offered = new DataView(offer.payload.buffer, offer.payload.byteOffset).getUint32(16);
      guest.dhcp(3, { requested: offered, server: GATEWAY_ADDRESS });
      await guest.until(() => guest.udp.some((d) => d.payload[242] === 5), 2000, 'DHCPACK');
      guest.address = offered;
      addresses.push(offered);
    }
    expect(addresses).toEqual([ipv4('10.0.2.15'), ipv4('10.0.2.16')]);
    const [a, b] = guests as [ScriptedGuest, ScriptedGuest];
    const dropsBefore = [...network.network.drops.values()].reduce((sum, n) => sum + n, 0);
    a.send(buildUdp(B, A, addresses[0]!, 5000, addresses[1]!, 6000, Uint8Array.of(1, 2, 3)));
    await b.until(() => b.udp.some((d) => d.destinationPort === 6000), 2000, 'the datagram from A');
    expect([...b.udp.find((d) => d.destinationPort === 6000)!.payload]).toEqual([1, 2, 3]);
    // The user-mode network never saw it (it would have dropped a datagram to another guest).
    expect([...network.network.drops.values()].reduce((sum, n) => sum + n, 0)).toBe(dropsBefore);
    // A notice of the shared network reaches every VM on it.
    a.send(buildUdp(BROADCAST_MAC, A, addresses[0]!, 5001, ipv4('8.8.8.8'), 53, Uint8Array.of(0)));
    const line = 'network: UDP beyond the VM’s DNS does not reach the web from a browser VM; dropped';
    expect(notices).toEqual([[line], [line]]);
  });
});
