/**
 * The guest-server Service Worker's URLs (docs/networking.md, "Guest servers"): `<scope><vmId>/<port>/<path>`
 * to the VM, its port and the path the guest is asked for, and the guest's redirects back under the prefix.
 */

export type GuestTarget =
  | {
      readonly kind: 'guest';
      readonly vmId: string;
      readonly port: number;
      /** The path the guest is asked for, from `/`, with the query. */
      readonly path: string;
      /** `<scope><vmId>/<port>/`: what the guest's `/` is in the browser. */
      readonly prefix: URL;
    }
  /** The prefix without its slash: relative links of the guest's pages resolve under it only with one. */
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'invalid'; readonly sentence: string };

export function parseGuestUrl(url: URL, scope: URL): GuestTarget {
  const rest = url.pathname.slice(scope.pathname.length);
  const match = /^([^/]+)\/(\d{1,5})(\/.*)?$/.exec(rest);
  const port = match ? Number(match[2]) : 0;
  if (!url.pathname.startsWith(scope.pathname) || !match || port < 1 || port > 0xffff)
    return { kind: 'invalid', sentence: `${url.pathname} names no VM and port (vm/<VM id>/<port>/).` };
  let vmId: string;
  try {
    vmId = decodeURIComponent(match[1]!);
  } catch {
    return { kind: 'invalid', sentence: `${url.pathname} names no VM.` };
  }
  const prefix = new URL(`${match[1]}/${port}/`, scope);
  if (match[3] === undefined) return { kind: 'redirect', location: prefix.href + url.search };
  return { kind: 'guest', vmId, port, path: match[3] + url.search, prefix };
}

/**
 * A `Location` of the guest's, seen from the browser: one to the guest's own address (`remote`, as
 * `10.0.2.15:8000`) or to a path of its (`/dir/`, `../x`, resolved against `path`, the request's) is
 * mapped under the prefix; one to another site is left as it is.
 */
export function locationIntoScope(location: string, remote: string, path: string, prefix: URL): string {
  const guestOrigin = `http://${remote}`;
  let target: URL;
  try {
    target = new URL(location, guestOrigin + path);
  } catch {
    return location;
  }
  if (target.origin !== guestOrigin) return location;
  return new URL(`.${target.pathname}${target.search}${target.hash}`, prefix).href;
}
