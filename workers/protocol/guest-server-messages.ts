/**
 * The messages between the guest-server Service Worker (workers/service-worker/guest-servers.sw.ts) and
 * the tabs of the app (src/controller/guest-servers.ts): the worker turns a request for
 * `<base>vm/<vmId>/<port>/<path>` into a fetch by the one tab that runs the VM, whose response comes
 * back over a MessageChannel a chunk at a time, each asked for (`pull`), so a large body never waits
 * whole in either side.
 */

/** The Service Worker's scope, under the app's base path; its script is `<base>vm-sw.js`. */
export const GUEST_SERVER_SCOPE = 'vm/';
export const GUEST_SERVER_SCRIPT = 'vm-sw.js';

/** The path of a guest server's page under the app's base: `vm/<vmId>/<port>/`. */
export function guestServerPath(vmId: string, port: number): string {
  return `${GUEST_SERVER_SCOPE}${encodeURIComponent(vmId)}/${port}/`;
}

/** Worker → each window: does this tab run `vmId`? The answer (`RunsVm`) comes on the transferred port. */
export interface WhichTabMessage {
  readonly type: 'tabvm-guest-server:which';
  readonly vmId: string;
}

export interface RunsVm {
  readonly running: boolean;
}

/** Worker → the VM's tab: a request for the guest's `port`; the answer comes on the transferred port. */
export interface GuestFetchMessage {
  readonly type: 'tabvm-guest-server:fetch';
  readonly vmId: string;
  readonly port: number;
  readonly method: string;
  /** The path and query the guest is asked for, from `/`. */
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: ArrayBuffer | null;
}

/** Tab → worker on the request's port: first a head or an error, then one reply to each `pull`. */
export type GuestFetchReply =
  | {
      readonly kind: 'head';
      readonly status: number;
      readonly statusText: string;
      readonly headers: readonly (readonly [string, string])[];
      /** The guest's address and port (`10.0.2.15:8000`), to map its redirects into the worker's scope. */
      readonly remote: string;
      readonly hasBody: boolean;
    }
  | { readonly kind: 'chunk'; readonly bytes: Uint8Array }
  | { readonly kind: 'end' }
  /** No response: `status` is what the worker answers the browser with (502, 503, 504). */
  | { readonly kind: 'error'; readonly status: number; readonly message: string };

/** Worker → tab on the request's port. */
export type GuestFetchPull = { readonly kind: 'pull' } | { readonly kind: 'cancel' };
