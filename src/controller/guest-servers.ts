/**
 * The tab's half of opening a guest's servers in browser tabs (docs/networking.md, "Guest servers"):
 * registers the Service Worker (workers/service-worker/guest-servers.sw.ts), tells it whether this tab
 * runs a VM, and answers its requests with `vmFetch`, streaming each body back a chunk per `pull`.
 */
import {
  GUEST_SERVER_SCOPE,
  GUEST_SERVER_SCRIPT,
  guestServerPath,
  type GuestFetchMessage,
  type GuestFetchPull,
  type GuestFetchReply,
  type RunsVm,
  type WhichTabMessage,
} from '../../workers/protocol/guest-server-messages.ts';
import { GuestConnectionError, httpRequest } from '../../workers/host/net/browser-network.ts';
import type { VmController } from './vm-controller.ts';
import { guestRequest, vmConnect } from './vm-fetch.ts';

/** The URL of a guest's server on `port`, opened in a new tab (under the app's base). */
export function guestServerUrl(vmId: string, port: number): string {
  return new URL(guestServerPath(vmId, port), document.baseURI).href;
}

/**
 * Registers the Service Worker and answers it for the VMs `find` gives (undefined: not in this page).
 * Resolves true once the worker is active; false, with the reason in `reason`, when this browser or
 * page cannot have one (no Service Workers, e.g. a private window of Firefox, or an insecure origin).
 */
export async function serveGuestServers(
  find: (vmId: string) => VmController | undefined,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (!('serviceWorker' in navigator))
    return {
      ok: false,
      reason: 'This browser gives this page no Service Worker (an http:// address other than localhost?).',
    };
  const container = navigator.serviceWorker;
  container.addEventListener('message', (event: MessageEvent<WhichTabMessage | GuestFetchMessage>) => {
    const port = event.ports[0];
    if (!port || !event.data || typeof event.data !== 'object') return;
    if (event.data.type === 'tabvm-guest-server:which') {
      const answer: RunsVm = { running: find(event.data.vmId)?.getView().phase === 'running' };
      port.postMessage(answer);
    } else if (event.data.type === 'tabvm-guest-server:fetch') {
      void answer(find(event.data.vmId), event.data, port);
    }
  });
  container.startMessages();
  try {
    const registration = await container.register(new URL(GUEST_SERVER_SCRIPT, document.baseURI), {
      type: 'module',
      scope: new URL(GUEST_SERVER_SCOPE, document.baseURI).pathname,
    });
    const worker = registration.installing ?? registration.waiting ?? registration.active;
    if (worker && worker.state !== 'activated')
      await new Promise<void>((resolve) =>
        worker.addEventListener('statechange', () => worker.state === 'activated' && resolve()),
      );
    return { ok: true };
  } catch (error) {
    return {
      ok: false,
      reason: `The Service Worker for guest servers could not be registered: ${(error as Error).message}`,
    };
  }
}

async function answer(vm: VmController | undefined, message: GuestFetchMessage, port: MessagePort): Promise<void> {
  const reply = (data: GuestFetchReply, transfer: Transferable[] = []): void => port.postMessage(data, transfer);
  if (!vm) return reply({ kind: 'error', status: 503, message: 'The VM is no longer running in this tab.' });
  let response: Response;
  let remote: string;
  try {
    const socket = vmConnect(vm, message.port);
    remote = socket.remote;
    response = await httpRequest(
      socket,
      guestRequest(message.path, {
        method: message.method,
        headers: message.headers.filter(([name]) => name !== 'host') as [string, string][],
        body: message.body,
      }),
    );
  } catch (error) {
    const timeout = error instanceof GuestConnectionError && error.reason === 'timeout';
    return reply({ kind: 'error', status: timeout ? 504 : 502, message: (error as Error).message });
  }
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => headers.push([name, value]));
  reply({
    kind: 'head',
    status: response.status,
    statusText: response.statusText,
    headers,
    remote,
    hasBody: response.body !== null,
  });
  if (!response.body) return port.close();
  const reader = response.body.getReader();
  port.onmessage = async (event: MessageEvent<GuestFetchPull>) => {
    if (event.data.kind === 'cancel') {
      port.close();
      return void reader.cancel().catch(() => {});
    }
    try {
      const { done, value } = await reader.read();
      if (done) reply({ kind: 'end' });
      else reply({ kind: 'chunk', bytes: value }, [value.buffer]);
    } catch (error) {
      reply({ kind: 'error', status: 502, message: (error as Error).message });
    }
  };
}
