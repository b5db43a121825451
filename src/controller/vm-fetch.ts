/**
 * `vmFetch`: an HTTP request to a server in a running VM's guest, over a TCP connection the page's
 * network opens from the gateway 10.0.2.2 to the guest's lease (docs/networking.md, "Guest servers").
 */
import { httpRequest, type GuestSocket } from '../../workers/host/net/browser-network.ts';
import type { VmController } from './vm-controller.ts';

/** Where a path given as a string is resolved: only its path and query reach the guest. */
const GUEST_BASE = 'http://guest/';

type FetchableVm = Pick<VmController, 'getView' | 'options'>;

/** A TCP connection to the guest's `port`; throws one sentence when the VM cannot take one. */
export function vmConnect(vm: FetchableVm, port: number): GuestSocket {
  const phase = vm.getView().phase;
  if (phase !== 'running')
    throw new Error(phase === 'paused' ? 'The VM is paused: resume it first.' : 'The VM is not running.');
  const connect = vm.options.net?.connectToGuest;
  if (!connect) throw new Error('The VM has no network card.');
  return connect(port);
}

/** `input` as a request to the guest: a path such as `/index.html` (with `init`), or a `Request`'s path. */
export function guestRequest(input: Request | string | URL, init?: RequestInit): Request {
  if (input instanceof Request) return init === undefined ? input : new Request(input, init);
  return new Request(new URL(input, GUEST_BASE), init);
}

/**
 * Sends `input` to the guest's TCP `port` and resolves with its response, whose body streams from the
 * guest. Rejects with one sentence when the VM is not running here, has no network card, nothing
 * listens on the port, or the answer is not HTTP/1.1.
 */
export async function vmFetch(
  vm: FetchableVm,
  port: number,
  input: Request | string | URL,
  init?: RequestInit,
): Promise<Response> {
  const request = guestRequest(input, init);
  return httpRequest(vmConnect(vm, port), request);
}
