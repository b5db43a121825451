/**
 * The browser's network for a VM of this page (docs/networking.md, "The browser"): the user-mode network
 * in the page, guest HTTP as fetch() from the page's origin, synthetic DNS addresses.
 */
import { browserNetwork, packageMirror } from '../../workers/host/net/browser-network.ts';
import type { UrlMap } from '../../workers/host/net/fetch-gateway.ts';
import type { NetworkHook } from '../../workers/protocol/net-link.ts';

export { packageMirror, type UrlMap };

/** Debian's archive, as the Debian image's apt source names it, served from this site's mirror. */
export function debianMirror(base: string): UrlMap {
  return packageMirror('http://deb.debian.org/debian/', new URL('images/debian/mirror/', base).href);
}

/**
 * The hook for a VM's card, made when the VM first starts (the page's address is read then); `onNotice`
 * gets the network's lines for the VM's pane, `urlMaps` the prefixes served from elsewhere.
 */
export function pageNetwork(
  onNotice: (line: string) => void,
  urlMaps: (base: string) => readonly UrlMap[] = () => [],
): NetworkHook {
  let hook: NetworkHook | undefined;
  return (link) => {
    hook ??= browserNetwork({
      origin: location.origin,
      onNotice,
      urlMaps: urlMaps(document.baseURI),
      upgradeToHttps: location.protocol === 'https:',
    });
    return hook(link);
  };
}
