/**
 * The user-mode network's host side in Node (`npm run vm`), as QEMU's `-netdev user`: guest TCP and UDP
 * become real host sockets (`net`, `dgram`), the gateway 10.0.2.2 is the host's 127.0.0.1, names resolve
 * through the host's resolver (getaddrinfo, so /etc/hosts counts), and `--hostfwd` forwards a host port
 * into the guest with QEMU's syntax.
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { NameNotFound, type Resolver } from '../../workers/host/net/dns.ts';
import { ipv4, ipv4ToString } from '../../workers/host/net/frames.ts';
import { parseMacAddress } from '../../workers/protocol/mac-address.ts';
import type { NetworkHook } from '../../workers/protocol/net-link.ts';
import type {
  HostStream,
  HostUdpSocket,
  SocketProvider,
  StreamEvents,
  UdpEvents,
} from '../../workers/host/net/sockets.ts';
import {
  GATEWAY_ADDRESS,
  NETMASK,
  NETWORK_ADDRESS,
  UserNetwork,
  type UserNetworkOptions,
} from '../../workers/host/net/user-network.ts';
import { ImageError } from '../../workers/machine/image-error.ts';

const LOOPBACK = '127.0.0.1';

/** What a guest address means on the host: the gateway is the host's loopback (QEMU does the same). */
export function hostAddressOf(address: number): string {
  return address === GATEWAY_ADDRESS ? LOOPBACK : ipv4ToString(address);
}

/** A host peer's address in the guest's terms. */
export function guestAddressOf(host: string): number {
  const address = host.startsWith('::ffff:') ? host.slice(7) : host;
  return address === LOOPBACK ? GATEWAY_ADDRESS : ipv4(address);
}

/** One `net.Socket` as the network's `HostStream`. */
class NodeStream implements HostStream {
  private readonly socket: Socket;
  private done = false;

  constructor(socket: Socket, events: StreamEvents, open: boolean) {
    this.socket = socket;
    let connected = open;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      events.connected();
    });
    socket.on('data', (chunk: Buffer) => events.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    socket.on('end', () => events.end());
    socket.on('drain', () => events.drained());
    socket.on('error', () => {
      if (this.done) return;
      this.done = true;
      events.closed(connected ? 'reset' : 'refused');
    });
    socket.on('close', () => {
      if (this.done) return;
      this.done = true;
      events.closed('closed');
    });
  }

  write(bytes: Uint8Array): void {
    // Copied: the bytes are a view into a guest frame the device reuses.
    if (!this.socket.destroyed) this.socket.write(Buffer.from(bytes));
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.done = true;
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

/** Real sockets on this host. */
export const nodeSockets: SocketProvider = {
  connect(address: number, port: number, events: StreamEvents): HostStream {
    return new NodeStream(connect({ host: hostAddressOf(address), port, allowHalfOpen: true }), events, false);
  },

  openUdp(events: UdpEvents): HostUdpSocket {
    const socket = createSocket('udp4');
    socket.on('error', () => {}); // an ICMP unreachable, a send to a bad address: the datagram is lost
    socket.on('message', (message, remote) => {
      events.message(
        new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
        guestAddressOf(remote.address),
        remote.port,
      );
    });
    let open = true;
    return {
      send(data, address, port) {
        if (open) socket.send(Buffer.from(data), port, hostAddressOf(address));
      },
      close() {
        if (open) socket.close();
        open = false;
      },
    };
  },
};

/** The host's resolver (getaddrinfo), IPv4 only. */
export const nodeResolver: Resolver = {
  async resolve4(name) {
    try {
      const addresses = await lookup(name, { all: true, family: 4 });
      return addresses.map((entry) => ipv4(entry.address));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw new NameNotFound(name);
      throw error;
    }
  },
};

/** A host port forwarded into the guest, from QEMU's `[tcp]:[hostaddr]:hostport-[guestaddr]:guestport`. */
export interface HostForward {
  readonly hostAddress: string;
  readonly hostPort: number;
  readonly guestAddress: number | undefined;
  readonly guestPort: number;
}

function port(text: string, what: string, rule: string): number {
  const value = Number(text);
  if (!/^\d{1,5}$/.test(text) || value < 1 || value > 65535) {
    throw new ImageError(`--hostfwd ${rule}: the ${what} must be a number from 1 to 65535`);
  }
  return value;
}

/**
 * Parses one `--hostfwd` rule in QEMU's hostfwd syntax: an empty protocol is TCP, an empty host address
 * every interface, an empty guest address the first lease (all as QEMU).
 */
export function parseHostForward(rule: string): HostForward {
  const match = /^(tcp|udp|):([^:]*):([^-]*)-([^:]*):(.*)$/.exec(rule);
  if (!match) throw new ImageError(`--hostfwd ${rule}: not of the form tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT`);
  const [, protocol, hostAddress, hostPort, guestAddress, guestPort] = match;
  if (protocol === 'udp') throw new ImageError(`--hostfwd ${rule}: only TCP ports can be forwarded yet`);
  let guest: number | undefined;
  if (guestAddress !== '') {
    try {
      guest = ipv4(guestAddress!);
    } catch {
      throw new ImageError(`--hostfwd ${rule}: the guest address must be an IPv4 address`);
    }
    if ((guest & NETMASK) >>> 0 !== NETWORK_ADDRESS)
      throw new ImageError(`--hostfwd ${rule}: the guest address must be in 10.0.2.0/24`);
  }
  if (hostAddress !== '') {
    try {
      ipv4(hostAddress!);
    } catch {
      throw new ImageError(`--hostfwd ${rule}: the host address must be an IPv4 address`);
    }
  }
  return {
    hostAddress: hostAddress === '' ? '0.0.0.0' : hostAddress!,
    hostPort: port(hostPort!, 'host port', rule),
    guestAddress: guest,
    guestPort: port(guestPort!, 'guest port', rule),
  };
}

/**
 * The user-mode network of one Node VM: `hook` plugs it into the VM's network card (NodeVm's onNetwork;
 * a restore plugs a fresh network, resetting the old one's connections), `forward` listens on the
 * `--hostfwd` ports, `close` ends it all.
 */
export class NodeUserNetwork {
  #network: UserNetwork | undefined;
  readonly #servers: Server[] = [];
  readonly #options: Partial<UserNetworkOptions>;

  constructor(options: Partial<UserNetworkOptions> = {}) {
    this.#options = options;
  }

  /** The network once a card is plugged in. */
  get network(): UserNetwork | undefined {
    return this.#network;
  }

  /** Plugs a fresh network; a restored guest's address (`lease`) is its lease from the start. */
  readonly hook: NetworkHook = ({ toGuest, lease }) => {
    this.#network?.reset();
    this.#network = new UserNetwork(toGuest, { provider: nodeSockets, resolver: nodeResolver, ...this.#options });
    if (lease) this.#network.claimLease(parseMacAddress(lease.mac), ipv4(lease.address));
    return this.#network;
  };

  /** Listens on each rule's host port; each accepted socket becomes a connection opened to the guest. */
  async forward(forwards: readonly HostForward[]): Promise<void> {
    for (const forward of forwards) {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        const opened = this.#network?.openToGuest(
          forward.guestPort,
          (events) => new NodeStream(socket, events, true),
          forward.guestAddress,
        );
        if (!opened) socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(
            new ImageError(
              `--hostfwd: cannot listen on ${forward.hostAddress}:${forward.hostPort} (${error.code ?? error.message})`,
            ),
          ),
        );
        server.listen(forward.hostPort, forward.hostAddress, () => resolve());
      });
      this.#servers.push(server);
    }
  }

  close(): void {
    for (const server of this.#servers.splice(0)) server.close();
    this.#network?.reset();
  }
}
