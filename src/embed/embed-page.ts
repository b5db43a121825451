/**
 * embed.html: a VM with its terminal filling the page, for tutorials that embed it in an iframe.
 * URL parameters: `image` (manifest URL; the default image if absent), `snapshot` (URL of a snapshot
 * file to start from), `memory` (MiB), `cpus`, `autostart`
 * (any value but 0), `allow` (comma-separated origins whose messages are obeyed; see messages.ts).
 *
 * STYLE.md habit 18: only named origins are trusted. A message from any other origin is ignored (and
 * said so on the console, for the author who forgot to list their origin); a listed origin's message is
 * validated with zod before anything is done with it, and the reply goes to that origin only.
 */
import { describeIssue, AllowListSchema, optionalNumber } from './options.ts';
import { defineTabvmTerminal, type TabvmTerminalElement } from './element.ts';
import { EmbedRequestSchema } from './messages.ts';
import type { EmbedEvent, EmbedReply, EmbedRequest, FetchReply, VmState } from './types.ts';

const params = new URLSearchParams(location.search);
const allowParsed = AllowListSchema.safeParse(params.get('allow') ?? '');

defineTabvmTerminal();
const element = document.createElement('tabvm-terminal') as TabvmTerminalElement;
element.setAttribute('image', params.get('image') ?? `${import.meta.env.BASE_URL}images/default/manifest.json`);
const snapshot = params.get('snapshot');
if (snapshot !== null) element.setAttribute('snapshot', snapshot);
const memory = optionalNumber(params.get('memory'));
if (memory !== undefined) element.setAttribute('memory', String(memory));
const cpus = optionalNumber(params.get('cpus'));
if (cpus !== undefined) element.setAttribute('cpus', String(cpus));
const relay = params.get('relay');
if (relay !== null) element.setAttribute('relay', relay);
const autostart = params.get('autostart');
if (autostart !== null && autostart !== '0') element.setAttribute('autostart', '');
document.body.append(element);

if (!allowParsed.success) {
  const notice = document.createElement('p');
  notice.className = 'embed-error';
  notice.textContent = `${describeIssue(allowParsed.error, 'embed.html')} (in the "allow" URL parameter); messages are ignored.`;
  document.body.prepend(notice);
}
const allowed = new Set(allowParsed.success ? allowParsed.data : []);

/** A reply carries a body of 256 MiB at most, as a file a message carries (messages.ts). */
const MAX_REPLY_BODY_BYTES = 256 << 20;

/** A guest server's response for tabvm:fetch's reply: its body read whole, bounded. */
async function fetchReply(response: Response): Promise<FetchReply> {
  const parts: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_REPLY_BODY_BYTES) {
        await reader.cancel();
        throw new Error('fetch(): the response’s body is over 256 MiB, the most a message carries');
      }
      parts.push(value);
    }
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.byteLength;
  }
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => headers.push([name, value]));
  return { status: response.status, statusText: response.statusText, headers, body };
}

function announce(event: EmbedEvent): void {
  if (window.parent === window) return;
  for (const origin of allowed) window.parent.postMessage(event, origin);
}

async function perform(request: EmbedRequest): Promise<unknown> {
  const timeout = 'timeout' in request && request.timeout !== undefined ? { timeout: request.timeout } : {};
  switch (request.type) {
    case 'tabvm:start':
      await element.start(timeout);
      return null;
    case 'tabvm:run':
      return element.run(request.command, timeout);
    case 'tabvm:type':
      element.type(request.text);
      return null;
    case 'tabvm:waitFor': {
      const pattern = request.regexp ? new RegExp(request.regexp.source, request.regexp.flags) : request.text;
      if (pattern === undefined) throw new Error('tabvm:waitFor needs "text" or "regexp"');
      return element.waitFor(pattern, timeout);
    }
    case 'tabvm:snapshot':
      return element.snapshot();
    case 'tabvm:restore':
      await element.restore(request.bytes);
      return null;
    case 'tabvm:writeFile':
      await element.writeFile(request.path, request.data);
      return null;
    case 'tabvm:readFile':
      return element.readFile(request.path);
    case 'tabvm:listFiles':
      return element.listFiles(request.path);
    case 'tabvm:fetch': {
      const response = await element.fetch(request.port, request.path, {
        ...(request.method !== undefined ? { method: request.method } : {}),
        ...(request.headers !== undefined ? { headers: request.headers } : {}),
        ...(request.body !== undefined
          ? { body: typeof request.body === 'string' ? request.body : request.body.slice() }
          : {}),
      });
      return fetchReply(response);
    }
  }
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  if (!allowed.has(event.origin)) {
    console.warn(`tabvm embed: ignored a message from ${event.origin}, which is not in the allow list`);
    return;
  }
  const source = event.source as Window | null;
  if (!source) return;
  const reply = (message: EmbedReply): void => source.postMessage(message, event.origin);
  const parsed = EmbedRequestSchema.safeParse(event.data);
  if (!parsed.success) {
    const id = (event.data as { id?: unknown } | null)?.id;
    if (typeof id === 'string' || typeof id === 'number') {
      reply({ type: 'tabvm:reply', id, ok: false, error: describeIssue(parsed.error, 'tabvm message') });
    }
    return;
  }
  const request = parsed.data;
  perform(request).then(
    (value) => reply({ type: 'tabvm:reply', id: request.id, ok: true, value }),
    (error: unknown) =>
      reply({ type: 'tabvm:reply', id: request.id, ok: false, error: (error as Error).message ?? String(error) }),
  );
});

element.addEventListener('state', (event) =>
  announce({ type: 'tabvm:state', state: (event as CustomEvent<VmState>).detail }),
);
element.addEventListener('output', (event) =>
  announce({ type: 'tabvm:output', text: (event as CustomEvent<string>).detail }),
);
announce({ type: 'tabvm:ready', mode: element.mode ?? 'fallback' });
