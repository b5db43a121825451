/**
 * The user-mode network of a VM in a browser page: `UserNetwork` with the fetch gateway as its sockets
 * and synthetic addresses as its DNS. It runs in the page, where the host end of the VM's frame channel
 * already is (plugNetwork) and where fetch() carries the page's origin: a worker of its own would add a
 * hop for every frame and gain nothing measurable (the Node measurement in docs/networking.md found the
 * network's thread idle 81 % of the time while the guest downloaded at full speed).
 */
import type { NetworkHook } from '../../protocol/net-link.ts';
import { FetchGateway, type Fetch, type FetchGatewayOptions, type UrlMap } from './fetch-gateway.ts';
import { SyntheticResolver } from './synthetic-resolver.ts';
import { GATEWAY_ADDRESS, UserNetwork } from './user-network.ts';

export interface BrowserNetworkOptions {
  /** The page's origin: what the guest reaches at 10.0.2.2. */
  readonly origin: string;
  /** One line for the VM's pane: a cap reached, a refused port, a fetch that failed. */
  readonly onNotice: (line: string) => void;
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

/**
 * The hook a VM controller plugs into the VM's card. Each plug (a start, a restore) gets a fresh network
 * and resets the last one's connections (the guest sees RST); names keep their synthetic addresses.
 */
export function browserNetwork(options: BrowserNetworkOptions): NetworkHook {
  const resolver = new SyntheticResolver();
  const gateway = new FetchGateway({
    fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    origin: options.origin,
    gatewayAddress: GATEWAY_ADDRESS,
    nameOf: (address) => resolver.nameOf(address),
    onNotice: options.onNotice,
    ...(options.urlMaps ? { urlMaps: options.urlMaps } : {}),
    ...(options.upgradeToHttps !== undefined ? { upgradeToHttps: options.upgradeToHttps } : {}),
    ...options.limits,
  });
  let network: UserNetwork | undefined;
  return ({ toGuest }) => {
    network?.reset();
    network = new UserNetwork(toGuest, { provider: gateway, resolver, onNotice: options.onNotice });
    return network;
  };
}
