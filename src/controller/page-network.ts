/**
 * The browser's network for a VM of this page (docs/networking.md, "The browser"): the user-mode network
 * in the page, guest HTTP as fetch() from the page's origin, synthetic DNS addresses, and the optional
 * relay for the rest of TCP and UDP.
 */
import { BrowserNetwork, packageMirror, relayUrlProblem } from '../../workers/host/net/browser-network.ts';
import type { UrlMap } from '../../workers/host/net/fetch-gateway.ts';
import type { NetworkHook } from '../../workers/protocol/net-link.ts';

export { packageMirror, relayUrlProblem, type UrlMap };

/** The page's relay: its WebSocket URL, and whether HTTP on port 80 goes through it too (not fetch()). */
export interface RelaySetting {
  readonly url: string;
  readonly everything: boolean;
}

/** Debian's archive, as the Debian image's apt source names it, served from this site's mirror. */
export function debianMirror(base: string): UrlMap {
  return packageMirror('http://deb.debian.org/debian/', new URL('images/debian/mirror/', base).href);
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
 * The hook for a VM's card on the page's network, which all the page's VMs share (one 10.0.2.0/24, each
 * its own lease, reaching each other); `onNotice` gets the network's lines for the VM's pane. `urlMaps`
 * are the prefixes served from elsewhere: the first VM to start sets them for the page.
 */
export function pageNetwork(
  onNotice: (line: string) => void,
  urlMaps: (base: string) => readonly UrlMap[] = () => [],
): NetworkHook {
  let hook: NetworkHook | undefined;
  return (link) => {
    shared ??= new BrowserNetwork({
      origin: location.origin,
      urlMaps: urlMaps(document.baseURI),
      upgradeToHttps: location.protocol === 'https:',
      ...(relay ? { relay } : {}),
    });
    hook ??= shared.hook(onNotice);
    return hook(link);
  };
}
