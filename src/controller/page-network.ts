/**
 * The browser's network for a VM of this page (docs/networking.md, "The browser"): the user-mode network
 * in the page, guest HTTP as fetch() from the page's origin, synthetic DNS addresses.
 */
import {
  BrowserNetwork,
  GuestConnectionError,
  packageMirror,
  type BrowserNetworkCard,
} from '../../workers/host/net/browser-network.ts';
import type { UrlMap } from '../../workers/host/net/fetch-gateway.ts';
import type { NetworkHook } from '../../workers/protocol/net-link.ts';

export { packageMirror, type UrlMap };

/** Debian's archive, as the Debian image's apt source names it, served from this site's mirror. */
export function debianMirror(base: string): UrlMap {
  return packageMirror('http://deb.debian.org/debian/', new URL('images/debian/mirror/', base).href);
}

/** The page's network, made when its first VM starts (the page's address is read then). */
let shared: BrowserNetwork | undefined;

/**
 * The hook for a VM's card on the page's network, which all the page's VMs share (one 10.0.2.0/24, each
 * its own lease, reaching each other); `onNotice` gets the network's lines for the VM's pane. `urlMaps`
 * are the prefixes served from elsewhere: the first VM to start sets them for the page.
 */
export function pageNetwork(
  onNotice: (line: string) => void,
  urlMaps: (base: string) => readonly UrlMap[] = () => [],
): NetworkHook {
  return pageNetworkCard(onNotice, urlMaps).onNetwork;
}

/** `pageNetwork`, and TCP connections from the page into the card's guest (its servers, vm-fetch.ts). */
export function pageNetworkCard(
  onNotice: (line: string) => void,
  urlMaps: (base: string) => readonly UrlMap[] = () => [],
): BrowserNetworkCard {
  let card: BrowserNetworkCard | undefined;
  return {
    onNetwork: (link) => {
      shared ??= new BrowserNetwork({
        origin: location.origin,
        urlMaps: urlMaps(document.baseURI),
        upgradeToHttps: location.protocol === 'https:',
      });
      card ??= shared.card(onNotice);
      return card.onNetwork(link);
    },
    connectToGuest: (port, options) => {
      if (!card)
        throw new GuestConnectionError(
          'The VM has no network card plugged in (it has not started, or it started from a snapshot taken without one).',
          'refused',
        );
      return card.connectToGuest(port, options);
    },
  };
}
