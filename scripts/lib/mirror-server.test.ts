import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serveMirror, type MirrorServer } from './mirror-server.ts';

/** A raw request as apt sends it through a proxy: the whole URL in the request line. */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveMirror', () => {
  let base: string;
  let mirror: MirrorServer | undefined;
  afterEach(() => {
    mirror?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('answers a proxied request for a file under /debian/ with the file, and anything else with a 404', async () => {
    base = mkdtempSync(join(tmpdir(), 'mirror-test-'));
    const dir = join(base, 'mirror');
    mkdirSync(join(dir, 'dists/trixie'), { recursive: true });
    writeFileSync(join(dir, 'dists/trixie/InRelease'), 'signed index\n');
    writeFileSync(join(base, 'outside-the-mirror.txt'), 'secret\n');
    mirror = await serveMirror(dir);

    expect(await get(mirror.port, 'http://deb.debian.org/debian/dists/trixie/InRelease')).toEqual({
      status: 200,
      body: 'signed index\n',
    });
    expect(await get(mirror.port, '/debian/dists/trixie/InRelease', 'HEAD')).toEqual({ status: 200, body: '' });
    expect((await get(mirror.port, 'http://deb.debian.org/debian/pool/main/c/cowsay/cowsay.deb')).status).toBe(404);
    expect((await get(mirror.port, '/other/dists/trixie/InRelease')).status).toBe(404);
    expect((await get(mirror.port, '/debian/dists')).status).toBe(404);
    // An escaped slash survives the URL's normalization; decoded, it would climb out of the mirror.
    expect((await get(mirror.port, '/debian/..%2Foutside-the-mirror.txt')).status).toBe(404);
    expect(mirror.requests).toEqual([
      'GET /debian/dists/trixie/InRelease',
      'HEAD /debian/dists/trixie/InRelease',
      'GET /debian/pool/main/c/cowsay/cowsay.deb',
      'GET /other/dists/trixie/InRelease',
      'GET /debian/dists',
      'GET /debian/../outside-the-mirror.txt',
    ]);
  });
});
