import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ipv4, ipv4ToString } from '../../workers/host/net/frames.ts';
import { ScriptedGuest } from '../../workers/host/net/test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS } from '../../workers/host/net/user-network.ts';
import { NodeUserNetwork, nodeResolver, parseHostForward, type HostForward } from './node-network.ts';

const GUEST = ipv4('10.0.2.15');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const random = (length: number): Uint8Array => new Uint8Array(randomBytes(length));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function guestOnNetwork(forwards: HostForward[] = []): Promise<{ guest: ScriptedGuest; node: NodeUserNetwork }> {
  const guest = new ScriptedGuest(Uint8Array.of(0x52, 0x54, 0, 0, 0, 1));
  const node = new NodeUserNetwork({ retransmitMs: 50 });
  cleanups.push(() => node.close());
  await node.forward(forwards);
  guest.network = node.hook({ toGuest: guest });
  guest.address = GUEST;
  return { guest, node };
}

describe('--hostfwd rules (QEMU syntax)', () => {
  it('reads tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT with the parts QEMU lets out', () => {
    expect(parseHostForward('tcp:127.0.0.1:8080-:80')).toEqual({
      hostAddress: '127.0.0.1',
      hostPort: 8080,
      guestAddress: undefined,
      guestPort: 80,
    });
    expect(parseHostForward('::2222-10.0.2.15:22')).toEqual({
      hostAddress: '0.0.0.0',
      hostPort: 2222,
      guestAddress: GUEST,
      guestPort: 22,
    });
  });

  it('refuses what it cannot do with one sentence', () => {
    expect(() => parseHostForward('tcp:127.0.0.1:8080')).toThrow(
      '--hostfwd tcp:127.0.0.1:8080: not of the form tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT',
    );
    expect(() => parseHostForward('udp::53-:53')).toThrow('only TCP ports can be forwarded yet');
    expect(() => parseHostForward('tcp::0-:80')).toThrow('the host port must be a number from 1 to 65535');
    expect(() => parseHostForward('tcp::80-:99999')).toThrow('the guest port must be a number from 1 to 65535');
    expect(() => parseHostForward('tcp::80-192.168.1.2:80')).toThrow('the guest address must be in 10.0.2.0/24');
    expect(() => parseHostForward('tcp:localhost:80-:80')).toThrow('the host address must be an IPv4 address');
  });
});

describe('the Node provider', () => {
  it('joins a guest connection to 10.0.2.2 to a server on 127.0.0.1: 1 MiB each way', async () => {
    const upload = random(1 << 20);
    const download = random((1 << 20) + 333).subarray(333);
    const received: Buffer[] = [];
    let uploaded: Promise<void> | undefined;
    const port = await listen(
      createServer({ allowHalfOpen: true }, (socket) => {
        uploaded = new Promise((resolve) => {
          socket.on('data', (chunk: Buffer) => received.push(chunk));
          socket.on('end', () => resolve());
        });
        socket.end(download);
      }),
    );
    const { guest, node } = await guestOnNetwork();
    const client = guest.tcpClient(40000, GATEWAY_ADDRESS, port, { window: 32768 });
    client.connect();
    client.write(upload);
    client.close();
    await guest.until(() => client.finReceived && client.allAcknowledged, 60_000, 'both transfers');
    await uploaded;
    expect(sha256(client.bytes())).toBe(sha256(download));
    expect(sha256(Buffer.concat(received))).toBe(sha256(upload));
    expect(client.bytesPastWindow).toBe(0);
    await guest.until(() => node.network!.connectionCount === 0, 2000, 'the connection gone');
    client.stop();
  }, 90_000);

  it('answers a closed port with RST', async () => {
    const port = await listen(createServer());
    cleanups.pop()!();
    const { guest } = await guestOnNetwork();
    const client = guest.tcpClient(40001, GATEWAY_ADDRESS, port);
    client.connect();
    await guest.until(() => client.resetReceived, 5000, 'RST');
    expect(client.established).toBe(false);
    client.stop();
  });

  it('forwards a host port into a guest server (hostfwd)', async () => {
    const probe = createServer();
    const hostPort = await listen(probe);
    cleanups.pop()!();
    await new Promise((resolve) => probe.once('close', resolve));
    const { guest } = await guestOnNetwork([parseHostForward(`tcp:127.0.0.1:${hostPort}-:80`)]);
    const server = guest.tcpServer(80);
    guest.arpRequest(GATEWAY_ADDRESS); // the network learns the guest's MAC, as from its DHCP
    const socket = connect({ host: '127.0.0.1', port: hostPort, allowHalfOpen: true });
    cleanups.push(() => socket.destroy());
    const reply: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => reply.push(chunk));
    const ended = new Promise((resolve) => socket.on('end', resolve));
    socket.write('GET / HTTP/1.0\r\n\r\n');
    await guest.until(() => server.receivedBytes === 18, 5000, 'the request in the guest');
    expect(Buffer.from(server.bytes()).toString()).toBe('GET / HTTP/1.0\r\n\r\n');
    server.write(Buffer.from('HTTP/1.0 200 OK\r\n\r\nhi'));
    server.close();
    await ended;
    expect(Buffer.concat(reply).toString()).toBe('HTTP/1.0 200 OK\r\n\r\nhi');
    server.stop();
  });

  it('carries UDP to 127.0.0.1 through 10.0.2.2 and the answer back from 10.0.2.2', async () => {
    const echo = createSocket('udp4');
    echo.on('message', (message, remote) =>
      echo.send(Buffer.concat([Buffer.from('echo:'), message]), remote.port, remote.address),
    );
    await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => echo.close());
    const { guest } = await guestOnNetwork();
    guest.sendUdp(GATEWAY_ADDRESS, 5353, echo.address().port, Buffer.from('ping'));
    await guest.until(() => guest.udp.length === 1, 5000, 'the echo');
    expect(Buffer.from(guest.udp[0]!.payload).toString()).toBe('echo:ping');
    expect(ipv4ToString(guest.udp[0]!.ip.source)).toBe('10.0.2.2');
    expect(guest.udp[0]!.destinationPort).toBe(5353);
  });

  it('resolves through the host (localhost from /etc/hosts)', async () => {
    expect((await nodeResolver.resolve4('localhost')).map(ipv4ToString)).toContain('127.0.0.1');
  });
});
