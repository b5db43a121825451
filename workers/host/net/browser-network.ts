/**
 * The user-mode network of the VMs of a browser page: `UserNetwork` with the fetch gateway (and, when
 * one is set, a wisp relay: relay-client.ts) as its sockets and synthetic addresses as its DNS, and a switch that joins the VMs to it and to each other. It runs in the page, where the host end of the VM's frame channel
 * already is (plugNetwork) and where fetch() carries the page's origin: a worker of its own would add a
 * hop for every frame and gain nothing measurable (the Node measurement in docs/networking.md found the
 * network's thread idle 81 % of the time while the guest downloaded at full speed).
 */
import { parseMacAddress } from '../../protocol/mac-address.ts';
import type { NetworkHook } from '../../protocol/net-link.ts';
import { CrossTabTrunk, type TrunkChannel } from './cross-tab.ts';
import { FetchGateway, type Fetch, type FetchGatewayOptions, type UrlMap } from './fetch-gateway.ts';
import { RelayProvider, relayUrlProblem, type RelayOptions } from './relay-client.ts';
import type { HostStream, HostUdpSocket, SocketProvider, StreamEvents, UdpEvents } from './sockets.ts';
import { GuestConnectionError, GuestStream, type GuestSocket } from './guest-socket.ts';
import { SyntheticResolver } from './synthetic-resolver.ts';
import { EthernetSwitch, type SwitchPort } from './switch.ts';
import { ipv4, ipv4ToString } from './frames.ts';
import { LockLeasePool, type LockManagerLike } from './lease-pool.ts';
import { GATEWAY_ADDRESS, LEASE_ADDRESSES, UserNetwork } from './user-network.ts';

export { CROSS_TAB_CHANNEL } from './cross-tab.ts';

export { relayUrlProblem, type RelayOptions };

// What the page uses of the network's connections into guests (src/ imports the network from here only).
export { GuestConnectionError, type GuestSocket } from './guest-socket.ts';
export { httpRequest, HttpResponseError } from './http-client.ts';

export interface BrowserNetworkOptions {
  /** The page's origin: what the guests reach at 10.0.2.2. */
  readonly origin: string;
  /** URL prefixes served from elsewhere, e.g. Debian's archive from the site's mirror (`packageMirror`). */
  readonly urlMaps?: readonly UrlMap[];
  /** Another site's http:// fetched as https://: set when the page itself is served over HTTPS. */
  readonly upgradeToHttps?: boolean;
  /** The certificates of guest HTTPS (the profile's CA); without them port 443 is refused. */
  readonly certificates?: FetchGatewayOptions['certificates'];
  /** fetch() itself (default the page's). */
  readonly fetch?: Fetch;
  /** The gateway's caps and timeout (defaults in fetch-gateway.ts). */
  readonly limits?: Pick<FetchGatewayOptions, 'maxHeaderBytes' | 'maxBodyBytes' | 'responseTimeoutMs'>;
  /**
   * Join the switches of the origin's other tabs: the trunk's channel (a `BroadcastChannel` named
   * CROSS_TAB_CHANNEL) and the locks that keep DHCP addresses unique across the tabs (`navigator.locks`).
   */
  readonly tabs?: { readonly channel: TrunkChannel; readonly locks: LockManagerLike };
  /** A wisp relay for TCP beyond port 80 and for UDP (relay-client.ts); `setRelay` changes it later. */
  readonly relay?: RelayOptions;
}

/**
 * A map from a package archive's URL to this site's mirror of it: a 404 there tells the pane the
 * package is not in the mirror. `to` is an absolute URL (e.g. `new URL('images/debian/mirror/',
 * document.baseURI).href`).
 */
export function packageMirror(from: string, to: string): UrlMap {
  return { from, to, missing: "this site's package mirror" };
}

/** One VM's card on the page's network. */
export interface BrowserNetworkCard {
  /** The hook for the VM's card (each plug, a start or a restore, replaces the card's switch port). */
  readonly onNetwork: NetworkHook;
  /**
   * A TCP connection from the gateway 10.0.2.2 to the guest's `guestPort`, at the address its card has
   * on the network (its lease). Throws a `GuestConnectionError` when the card is not plugged in, has no
   * address yet or the network's connection cap is reached.
   */
  connectToGuest(guestPort: number, options?: { readonly connectTimeoutMs?: number }): GuestSocket;
}

/**
 * The network of a page's VMs: one switch (switch.ts) with the user-mode network on a port of its own,
 * so the VMs share 10.0.2.0/24 (each its own DHCP lease) and reach each other as well as the gateway.
 * The network's notices go to every VM's `onNotice`: the network is theirs together.
 */
export class BrowserNetwork {
  readonly #switch = new EthernetSwitch();
  readonly #network: UserNetwork;
  readonly #listeners = new Set<(line: string) => void>();
  readonly #trunk: CrossTabTrunk | undefined;
  readonly #leasePool: LockLeasePool | undefined;
  readonly #gateway: FetchGateway;
  readonly #onNotice: (line: string) => void;
  readonly #resolver: SyntheticResolver;
  #relay: RelayProvider | undefined;

  constructor(options: BrowserNetworkOptions) {
    const resolver = new SyntheticResolver();
    const onNotice = (line: string): void => {
      for (const listener of this.#listeners) listener(line);
    };
    const gateway = new FetchGateway({
      fetch: options.fetch ?? ((url, init) => fetch(url, init)),
      origin: options.origin,
      gatewayAddress: GATEWAY_ADDRESS,
      nameOf: (address) => resolver.nameOf(address),
      onNotice,
      ...(options.urlMaps ? { urlMaps: options.urlMaps } : {}),
      ...(options.certificates ? { certificates: options.certificates } : {}),
      ...(options.upgradeToHttps !== undefined ? { upgradeToHttps: options.upgradeToHttps } : {}),
      ...options.limits,
    });
    this.#gateway = gateway;
    this.#onNotice = onNotice;
    this.#resolver = resolver;
    if (options.relay) this.setRelay(options.relay);
    // The network's provider reads #relay at each connection, so a relay set later applies to new ones.
    const provider: SocketProvider = {
      connect: (address: number, port: number, events: StreamEvents): HostStream =>
        (this.#relay ?? gateway).connect(address, port, events),
      openUdp: (events: UdpEvents): HostUdpSocket => (this.#relay ?? gateway).openUdp(events),
    };
    this.#leasePool =
      options.tabs &&
      new LockLeasePool({
        locks: options.tabs.locks,
        addresses: LEASE_ADDRESSES,
        onConflict: (address) =>
          onNotice(`network: ${ipv4ToString(address)} is used by a VM of this tab and by one of another tab`),
      });
    const network: { current?: UserNetwork } = {};
    const uplink = this.#switch.attach({ receive: (frame) => network.current!.receive(frame) }, { isolated: true });
    this.#network = network.current = new UserNetwork(uplink, {
      provider,
      resolver,
      onNotice,
      ...(this.#leasePool ? { leasePool: this.#leasePool } : {}),
    });
    this.#trunk =
      options.tabs &&
      new CrossTabTrunk(this.#switch, options.tabs.channel, { onBye: () => this.#leasePool?.forgetElsewhere() });
  }

  /** The trunk to the other tabs, when the network joins them. */
  get trunk(): CrossTabTrunk | undefined {
    return this.#trunk;
  }

  /**
   * Sends the guests' TCP (beyond port 80, unless `everything`) and UDP through a wisp relay from now on,
   * or, with `undefined`, no longer. Connections open through the old relay are reset. Throws for a URL
   * that is not ws:// or wss://.
   */
  setRelay(relay: RelayOptions | undefined): void {
    if (
      relay &&
      this.#relay &&
      relay.url === this.#relay.url &&
      !!relay.everything === !!this.#relay.options.everything
    )
      return;
    const next = relay
      ? new RelayProvider(this.#gateway, relay, {
          gatewayAddress: GATEWAY_ADDRESS,
          nameOf: (address) => this.#resolver.nameOf(address),
          onNotice: this.#onNotice,
        })
      : undefined;
    this.#relay?.close();
    this.#relay = next;
  }

  /** The relay's URL, if one is set. */
  get relayUrl(): string | undefined {
    return this.#relay?.url;
  }

  /** The user-mode network on the switch's uplink (its counters, its caps). */
  get network(): UserNetwork {
    return this.#network;
  }

  /**
   * The hook for one VM's card. Each plug (a start, a restore) takes the VM's last port out of the
   * switch and puts in a new one; the VM's notices go to `onNotice`. A restored guest's address (its
   * snapshot's `lease`) is recorded as its lease, so no other guest is given it.
   */
  hook(onNotice: (line: string) => void): NetworkHook {
    return this.card(onNotice).onNetwork;
  }

  /** `hook`, and connections into the VM's guest. */
  card(onNotice: (line: string) => void): BrowserNetworkCard {
    let port: SwitchPort | undefined;
    return {
      onNetwork: ({ toGuest, lease }) => {
        port?.detach();
        this.#listeners.add(onNotice);
        port = this.#switch.attach(toGuest);
        const address = lease && ipv4(lease.address);
        if (
          address &&
          LEASE_ADDRESSES.includes(address) &&
          !this.#network.claimLease(parseMacAddress(lease.mac), address)
        ) {
          onNotice(`network: the restored VM has ${lease.address}, which another VM of this page has too`);
        }
        return port;
      },
      connectToGuest: (guestPort, options) => {
        if (!Number.isInteger(guestPort) || guestPort < 1 || guestPort > 0xffff)
          throw new GuestConnectionError(`${guestPort} is not a TCP port (1 to 65535).`, 'refused');
        const address = port
          ?.learnt()
          .map((mac) => this.#network.addressOf(mac))
          .find((found) => found !== undefined);
        if (address === undefined)
          throw new GuestConnectionError(
            'The VM has no address on the network yet (it gets one by DHCP once its network is up).',
            'refused',
          );
        let stream: GuestStream | undefined;
        const remote = `${ipv4ToString(address)}:${guestPort}`;
        const opened = this.#network.openToGuest(
          guestPort,
          (events) => (stream = new GuestStream(events, remote, options?.connectTimeoutMs)),
          address,
        );
        if (!opened || !stream)
          throw new GuestConnectionError(`The network cannot open another connection to ${remote} now.`, 'refused');
        return stream.socket;
      },
    };
  }

  /** Leaves the other tabs (they forget this tab's guests; its leases' locks are given back) and resets. */
  close(): void {
    this.#trunk?.close();
    this.#leasePool?.close();
    this.#relay?.close();
    this.#network.reset();
  }

  /** Resets every connection of the network (the guests see RST). */
  reset(): void {
    this.#network.reset();
  }
}

/** The page keeps the profile's CA (src/storage/profile-ca.ts); the network only uses it. */
export { CertificateAuthority, createCaRecord, type CaRecord } from './tls/certificates.ts';
