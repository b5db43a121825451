/**
 * The user-mode network of the VMs of a browser page: `UserNetwork` with the fetch gateway as its
 * sockets and synthetic addresses as its DNS, and a switch that joins the VMs to it and to each other. It runs in the page, where the host end of the VM's frame channel
 * already is (plugNetwork) and where fetch() carries the page's origin: a worker of its own would add a
 * hop for every frame and gain nothing measurable (the Node measurement in docs/networking.md found the
 * network's thread idle 81 % of the time while the guest downloaded at full speed).
 */
import type { NetworkHook } from '../../protocol/net-link.ts';
import { FetchGateway, type Fetch, type FetchGatewayOptions, type UrlMap } from './fetch-gateway.ts';
import { ipv4ToString } from './frames.ts';
import { GuestConnectionError, GuestStream, type GuestSocket } from './guest-socket.ts';
import { SyntheticResolver } from './synthetic-resolver.ts';
import { EthernetSwitch, type SwitchPort } from './switch.ts';
import { GATEWAY_ADDRESS, UserNetwork } from './user-network.ts';

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
  /** fetch() itself (default the page's). */
  readonly fetch?: Fetch;
  /** The gateway's caps and timeout (defaults in fetch-gateway.ts). */
  readonly limits?: Pick<FetchGatewayOptions, 'maxHeaderBytes' | 'maxBodyBytes' | 'responseTimeoutMs'>;
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
      ...(options.upgradeToHttps !== undefined ? { upgradeToHttps: options.upgradeToHttps } : {}),
      ...options.limits,
    });
    const network: { current?: UserNetwork } = {};
    const uplink = this.#switch.attach({ receive: (frame) => network.current!.receive(frame) });
    this.#network = network.current = new UserNetwork(uplink, { provider: gateway, resolver, onNotice });
  }

  /** The user-mode network on the switch's uplink (its counters, its caps). */
  get network(): UserNetwork {
    return this.#network;
  }

  /**
   * The hook for one VM's card. Each plug (a start, a restore) takes the VM's last port out of the
   * switch and puts in a new one; the VM's notices go to `onNotice`.
   */
  hook(onNotice: (line: string) => void): NetworkHook {
    return this.card(onNotice).onNetwork;
  }

  /** `hook`, and connections into the VM's guest. */
  card(onNotice: (line: string) => void): BrowserNetworkCard {
    let port: SwitchPort | undefined;
    return {
      onNetwork: ({ toGuest }) => {
        port?.detach();
        this.#listeners.add(onNotice);
        port = this.#switch.attach(toGuest);
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

  /** Resets every connection of the network (the guests see RST). */
  reset(): void {
    this.#network.reset();
  }
}
