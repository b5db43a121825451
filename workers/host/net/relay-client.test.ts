/**
 * The relay client against a relay that sends anything: random packets, valid and not, to streams that
 * exist and that do not, while scripted guests open connections and send datagrams. Nothing may throw;
 * every session that ends says so in one line; the guest's connections end with a RST or a FIN, or stay.
 * (The client against the real relay: scripts/lib/relay-server.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserNetwork } from './browser-network.ts';
import { ipv4 } from './frames.ts';
import type { RelaySocket } from './relay-client.ts';
import { encodeClose, encodeContinue, encodeData, encodeConnect, STREAM_TCP } from './relay-protocol.ts';
import { ScriptedGuest, type GuestTcp } from './test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS } from './user-network.ts';

class FakeRelaySocket implements RelaySocket {
  binaryType: BinaryType = 'arraybuffer';
  readyState = 1;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  sent = 0;
  send(): void {
    this.sent++;
  }
  close(): void {
    this.readyState = 3;
  }
  deliver(packet: Uint8Array): void {
    if (this.readyState === 1) this.onmessage?.({ data: packet.slice().buffer } as MessageEvent);
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

describe('the relay client', () => {
  it('takes 5 000 random packets from a relay without throwing, a line for each session that ends', async () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const sockets: FakeRelaySocket[] = [];
    const notices: string[] = [];
    const shared = new BrowserNetwork({
      origin: 'http://app.test',
      relay: {
        url: 'ws://relay.test/',
        confirmMs: 20,
        maxBufferedBytes: 64 * 1024,
        openSocket: () => {
          const socket = new FakeRelaySocket();
          sockets.push(socket);
          return socket;
        },
      },
    });
    const guest = new ScriptedGuest(Uint8Array.of(0x52, 0x54, 0, 1, 2, 3));
    guest.address = ipv4('10.0.2.15');
    guest.network = shared.hook((line) => notices.push(line))({ toGuest: guest });
    const clients: GuestTcp[] = [];
    cleanups.push(() => {
      shared.setRelay(undefined);
      shared.reset();
      clients.forEach((client) => client.stop());
    });

    for (let round = 0; round < 50; round++) {
      const client = guest.tcpClient(40000 + round, GATEWAY_ADDRESS, 2000 + random(5), { autoRead: random(2) === 0 });
      clients.push(client);
      client.connect();
      client.write(new Uint8Array(random(3000)));
      guest.sendUdp(GATEWAY_ADDRESS, 5000 + random(3), 6000 + random(3), Uint8Array.of(1, 2, 3));
      await new Promise((resolve) => setTimeout(resolve, 1));
      sockets.at(-1)!.deliver(encodeContinue(0, 16)); // the relay's first word (again, if not the first)
      for (let i = 0; i < 100; i++) {
        const socket = sockets.at(-1)!;
        const stream = 1 + random(4);
        const packets = [
          () => encodeContinue(stream, random(200)),
          () => encodeData(stream, new Uint8Array(random(1500)).fill(round)),
          () => encodeClose(stream, random(256)),
          () => encodeConnect(stream, STREAM_TCP, 80, 'x'),
          () => Uint8Array.of(5, 0, 0, 0, 0, 2, 0), // INFO
          () => Uint8Array.from({ length: random(12) }, () => random(256)), // garbage
        ];
        // Mostly CONTINUE and DATA, so that sessions and streams live long enough to carry some bytes.
        const roll = random(100);
        const pick = roll < 30 ? 0 : roll < 80 ? 1 : roll < 85 ? 2 : roll < 90 ? 3 : roll < 97 ? 4 : 5;
        socket.deliver(packets[pick]!());
        if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const ended = sockets.filter((socket) => socket.readyState === 3).length;
    expect(sockets.length).toBeGreaterThan(1); // sessions ended (a protocol error) and were opened again
    expect(notices.filter((line) => / sent .*; its connections were reset$/.test(line)).length).toBe(ended);
    for (const line of notices) expect(line).toMatch(/^network: /);
    expect(clients.some((client) => client.resetReceived)).toBe(true);
    expect(clients.some((client) => client.receivedBytes > 0)).toBe(true);
  });
});
