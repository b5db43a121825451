/**
 * Whether this page can open a guest's servers in browser tabs: the Service Worker's registration
 * (src/controller/guest-servers.ts), started once at load, as a store the Ports panel reads.
 */
import { serveGuestServers } from '../controller/guest-servers.ts';
import { ObservableState } from '../controller/observable-state.ts';
import type { Library } from './library.ts';

export type GuestServersState =
  { readonly status: 'starting' | 'ready' } | { readonly status: 'unavailable'; readonly reason: string };

const state = new ObservableState<GuestServersState>({ status: 'starting' });

export const guestServersState = { subscribe: state.subscribe, getSnapshot: state.get };

/** Registers the Service Worker and answers it for the library's VMs that run in this tab. */
export function startGuestServers(library: Library): void {
  void serveGuestServers(
    (vmId) => library.getSnapshot().entries.find((entry) => entry.definition.id === vmId)?.controller,
  ).then((result) => state.set(result.ok ? { status: 'ready' } : { status: 'unavailable', reason: result.reason }));
}
