/**
 * The Service Worker that opens a guest's servers in browser tabs (docs/networking.md, "Guest servers"):
 * a request for `<base>vm/<vmId>/<port>/<path>` is asked of the one tab that runs the VM, which sends it
 * to the guest's port over the page's network and streams the answer back
 * (workers/protocol/guest-server-messages.ts). Its scope is `<base>vm/`, so the app's own pages are
 * never its clients; a guest page's relative links stay under its `<vmId>/<port>/` prefix, and the
 * guest's redirects to its own paths are mapped into it.
 */
import type {
  GuestFetchMessage,
  GuestFetchPull,
  GuestFetchReply,
  RunsVm,
  WhichTabMessage,
} from '../protocol/guest-server-messages.ts';
import { locationIntoScope, parseGuestUrl } from './guest-urls.ts';

declare const self: ServiceWorkerGlobalScope;

/** A tab that does not answer in this time is taken to run no VM (a guest page, a frozen tab). */
const WHICH_TAB_TIMEOUT_MS = 2000;

self.addEventListener('install', () => void self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  const scope = new URL(self.registration.scope);
  const url = new URL(event.request.url);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  event.respondWith(serve(event.request, url, scope));
});

function page(status: number, title: string, sentence: string): Response {
  const escape = (text: string): string =>
    text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return new Response(
    `<!doctype html><meta charset="utf-8"><title>${escape(title)}</title><h1>${escape(title)}</h1><p>${escape(sentence)}</p>\n`,
    { status, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } },
  );
}

async function serve(request: Request, url: URL, scope: URL): Promise<Response> {
  const target = parseGuestUrl(url, scope);
  if (target.kind === 'invalid') return page(404, 'Not a guest server', target.sentence);
  if (target.kind === 'redirect') return Response.redirect(target.location, 308);
  const { vmId, port, path, prefix } = target;
  const tab = await findTab(vmId, scope);
  if (!tab)
    return page(
      503,
      'The VM is not running',
      `The VM ${vmId} is not running in any tab of this site. Start it in tabvm, then reload this page.`,
    );
  const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.arrayBuffer();
  const headers: [string, string][] = [];
  request.headers.forEach((value, name) => headers.push([name, value]));
  const message: GuestFetchMessage = {
    type: 'tabvm-guest-server:fetch',
    vmId,
    port,
    method: request.method,
    path,
    headers,
    body,
  };
  const channel = new MessageChannel();
  const replies = replyQueue(channel.port1);
  tab.postMessage(message, body ? [channel.port2, body] : [channel.port2]);
  const head = await replies.next();
  if (head.kind === 'error') {
    channel.port1.close();
    return page(head.status, 'The guest server did not answer', head.message);
  }
  if (head.kind !== 'head') {
    channel.port1.close();
    return page(502, 'The guest server did not answer', 'The tab running the VM answered out of turn.');
  }
  const responseHeaders = new Headers();
  for (const [name, value] of head.headers)
    responseHeaders.append(name, name === 'location' ? locationIntoScope(value, head.remote, path, prefix) : value);
  const send = (pull: GuestFetchPull): void => channel.port1.postMessage(pull);
  const stream = head.hasBody
    ? new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            send({ kind: 'pull' });
            const reply = await replies.next();
            if (reply.kind === 'chunk') return controller.enqueue(reply.bytes);
            channel.port1.close();
            if (reply.kind === 'end') controller.close();
            else controller.error(new Error(reply.kind === 'error' ? reply.message : 'out of turn'));
          },
          cancel() {
            send({ kind: 'cancel' });
            channel.port1.close();
          },
        },
        { highWaterMark: 0 },
      )
    : null;
  if (!stream) channel.port1.close();
  return new Response(stream, { status: head.status, statusText: head.statusText, headers: responseHeaders });
}

/** The replies on a port, one at a time, in order. */
function replyQueue(port: MessagePort): { next(): Promise<GuestFetchReply> } {
  const waiting: GuestFetchReply[] = [];
  let wake: ((reply: GuestFetchReply) => void) | undefined;
  port.onmessage = (event: MessageEvent<GuestFetchReply>) => {
    if (wake) {
      const resolve = wake;
      wake = undefined;
      resolve(event.data);
    } else waiting.push(event.data);
  };
  return {
    next: () => {
      const reply = waiting.shift();
      return reply ? Promise.resolve(reply) : new Promise((resolve) => (wake = resolve));
    },
  };
}

/**
 * The window of this origin that runs `vmId` (a VM runs in one tab at a time, src/controller/vm-lock.ts):
 * the first to say so. Guest pages (under the scope) are not asked; a tab that does not answer in time
 * counts as a no.
 */
async function findTab(vmId: string, scope: URL): Promise<Client | undefined> {
  const windows = (await self.clients.matchAll({ type: 'window', includeUncontrolled: true })).filter(
    (client) => !client.url.startsWith(scope.href),
  );
  return new Promise((resolve) => {
    let left = windows.length;
    if (left === 0) resolve(undefined);
    for (const client of windows) {
      const channel = new MessageChannel();
      const answered = (running: boolean): void => {
        clearTimeout(timer);
        channel.port1.close();
        if (running) resolve(client);
        else if (--left === 0) resolve(undefined);
      };
      const timer = setTimeout(() => answered(false), WHICH_TAB_TIMEOUT_MS);
      channel.port1.onmessage = (event: MessageEvent<RunsVm>) => answered(event.data.running === true);
      const message: WhichTabMessage = { type: 'tabvm-guest-server:which', vmId };
      client.postMessage(message, [channel.port2]);
    }
  });
}
