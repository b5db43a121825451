/**
 * The Debian image's package mirror (public/images/debian/mirror/) over HTTP from this host, for a guest
 * whose apt fetches through it as a proxy (`-o Acquire::http::Proxy=http://10.0.2.2:PORT/`): QEMU's and
 * tabvm's user-mode networks both make 10.0.2.2 the host's loopback. A proxied request names the whole URL
 * (`GET http://deb.debian.org/debian/…`); its path under /debian/ is the file in the mirror.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sep } from 'node:path';
import { resolve } from 'node:path';

export interface MirrorServer {
  readonly port: number;
  /** `METHOD /path` of every request, in order. */
  readonly requests: readonly string[];
  close(): void;
}

/** Serves `dir` under /debian/ byte for byte on 127.0.0.1 (a free port); anything else is a 404. */
export async function serveMirror(dir: string): Promise<MirrorServer> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    requests.push(`${request.method} ${pathname}`);
    const file = resolve(dir, `.${pathname.replace(/^\/debian\//, '/')}`);
    if (
      !pathname.startsWith('/debian/') ||
      !file.startsWith(dir + sep) ||
      !existsSync(file) ||
      !statSync(file).isFile()
    ) {
      return void response.writeHead(404, { 'content-type': 'text/plain' }).end('not in the mirror\n');
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
    if (request.method === 'HEAD') return void response.end();
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as AddressInfo).port, requests, close: () => server.close() };
}
