/**
 * The browser's network for a VM of this page (docs/networking.md, "The browser"): the user-mode network
 * in the page, guest HTTP as fetch() from the page's origin, synthetic DNS addresses, and the optional
 * relay for the rest of TCP and UDP.
 */
import {
  BrowserNetwork,
  CROSS_TAB_CHANNEL,
  GuestConnectionError,
  packageMirror,
  relayUrlProblem,
  type BrowserNetworkCard,
} from '../../workers/host/net/browser-network.ts';
import type { UrlMap } from '../../workers/host/net/fetch-gateway.ts';
import type { NetworkHook } from '../../workers/protocol/net-link.ts';
import { profileCa, profileCaPem } from '../storage/profile-ca.ts';
import type { VmController } from './vm-controller.ts';

export { packageMirror, relayUrlProblem, type UrlMap };

/** The page's relay: its WebSocket URL, and whether HTTP on port 80 goes through it too (not fetch()). */
export interface RelaySetting {
  readonly url: string;
  readonly everything: boolean;
}

/** Debian's archive, as the Debian image's apt source names it. */
export const DEBIAN_ARCHIVE = 'http://deb.debian.org/debian/';

/** Debian's archive served from this site's mirror. */
export function debianMirror(base: string): UrlMap {
  return packageMirror(DEBIAN_ARCHIVE, new URL('images/debian/mirror/', base).href);
}

/** The page's network, made when its first VM starts (the page's address is read then). */
let shared: BrowserNetwork | undefined;
let relay: RelaySetting | undefined;

/**
 * Sets the relay of the page's network, which every VM of the page shares: new connections use it at
 * once, connections through a relay it replaces are reset. Throws for a URL that is not ws:// or wss://.
 */
export function setPageRelay(setting: RelaySetting | undefined): void {
  const problem = setting && relayUrlProblem(setting.url);
  if (problem) throw new Error(problem);
  relay = setting;
  shared?.setRelay(setting);
}

/**
 * The other tabs of the origin, when the page can join them: a BroadcastChannel for the frames and Web
 * Locks (only in a secure context, as localhost is) for unique leases (docs/networking.md, "Other tabs").
 */
function otherTabs(): ConstructorParameters<typeof BrowserNetwork>[0]['tabs'] {
  if (typeof BroadcastChannel !== 'function' || !('locks' in navigator)) return undefined;
  const channel = new BroadcastChannel(CROSS_TAB_CHANNEL);
  return { channel, locks: navigator.locks };
}

/**
 * The hook for a VM's card on the page's network, which all the page's VMs share (one 10.0.2.0/24, each
 * its own lease, reaching each other), and with them the VMs of the origin's other tabs; `onNotice` gets
 * the network's lines for the VM's pane. `urlMaps` are the prefixes served from elsewhere: the first VM
 * to start sets them for the page.
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
      if (!shared) {
        const tabs = otherTabs();
        const network = (shared = new BrowserNetwork({
          origin: location.origin,
          urlMaps: urlMaps(document.baseURI),
          certificates: { certificateFor: async (host) => (await profileCa()).certificateFor(host) },
          upgradeToHttps: location.protocol === 'https:',
          ...(tabs ? { tabs } : {}),
          ...(relay ? { relay } : {}),
        }));
        // The other tabs forget this one's guests at once rather than when their frames go unanswered.
        addEventListener('pagehide', (event) => {
          if (!event.persisted) network.close();
        });
      }
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

/**
 * Has the VM's guest trust the CA with which the page's network ends guest HTTPS: its guest agent
 * installs it at every start and restore (docs/guest-agent.md). A guest without an agent (a snapshot
 * from before it) is left as it is: its HTTPS needs `--cacert` (docs/networking.md, "HTTPS").
 */
export function trustPageCa(controller: Pick<VmController, 'installGuestCa'>): void {
  profileCaPem()
    .then((pem) => controller.installGuestCa(pem))
    .catch(() => {});
}
