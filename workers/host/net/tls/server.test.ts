import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, createCaRecord } from './certificates.ts';
import { TlsServer } from './server.ts';

let authority: CertificateAuthority;
beforeAll(async () => {
  authority = new CertificateAuthority(await createCaRecord());
});

interface Harness {
  readonly server: TlsServer;
  /** The bytes the client sent, as the server took them. */
  readonly received: Buffer[];
  readonly failures: string[];
  readonly names: (string | undefined)[];
  ended: boolean;
  /** The transport: what the server sends goes to the client side. */
  readonly socket: Duplex;
}

/** A TlsServer on one end of an in-memory transport; the other end is for a client (Node's tls or raw bytes). */
function harness(onData?: (server: TlsServer, bytes: Uint8Array) => void): Harness {
  const received: Buffer[] = [];
  const failures: string[] = [];
  const names: (string | undefined)[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      state.server.receive(new Uint8Array(chunk));
      callback();
    },
    final(callback) {
      callback();
    },
  });
  const state: { -readonly [K in keyof Harness]: Harness[K] } = {
    server: undefined!,
    received,
    failures,
    names,
    ended: false,
    socket,
  };
  const server = new TlsServer(
    {
      certificate: (name) => {
        names.push(name);
        return authority.certificateFor(name ?? '10.0.2.2');
      },
    },
    {
      send: (bytes) => socket.push(Buffer.from(bytes)),
      established: () => {},
      data: (bytes) => {
        received.push(Buffer.from(bytes));
        onData?.(server, bytes);
      },
      end: () => {
        state.ended = true;
        server.close();
      },
      failed: (reason) => {
        failures.push(reason);
        socket.push(null);
      },
      drained: () => {},
    },
  );
  state.server = server;
  return state;
}

function connect(socket: Duplex, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const client = tls.connect({
      socket,
      servername: 'example.test',
      ca: authority.pem,
      ALPNProtocols: ['h2', 'http/1.1'],
      ...options,
    });
    client.once('secureConnect', () => resolve(client));
    client.once('error', reject);
  });
}

function readAll(client: tls.TLSSocket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    client.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      total += chunk.length;
      if (total >= length) resolve(Buffer.concat(parts));
    });
    client.once('error', reject);
  });
}

const echo = (server: TlsServer, bytes: Uint8Array): void => server.write(bytes);

describe.each([
  { version: 'TLS 1.3', options: {}, protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
  {
    version: 'TLS 1.2',
    options: { maxVersion: 'TLSv1.2' },
    protocol: 'TLSv1.2',
    cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  },
] as const)('the TLS server with Node’s tls as a $version client', ({ options, protocol, cipher }) => {
  it('completes a handshake the client verifies (x25519, SNI, ALPN) and carries data both ways', async () => {
    const { socket, names, failures } = harness(echo);
    const client = await connect(socket, options);
    expect(client.authorized).toBe(true);
    expect(client.getProtocol()).toBe(protocol);
    expect(client.getCipher().name).toBe(cipher);
    expect(client.alpnProtocol).toBe('http/1.1');
    expect(client.getEphemeralKeyInfo()).toMatchObject({ name: 'X25519' });
    expect(names).toEqual(['example.test']);
    const reply = readAll(client, 5);
    client.write('hello');
    expect((await reply).toString()).toBe('hello');
    expect(failures).toEqual([]);
    client.destroy();
  });

  it('carries a megabyte each way in full records, and closes with close_notify', async () => {
    const h = harness(echo);
    const client = await connect(h.socket, options);
    const sent = Buffer.alloc(1 << 20);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 31 + (i >> 12)) & 0xff;
    const reply = readAll(client, sent.length);
    client.write(sent);
    expect((await reply).equals(sent)).toBe(true);
    expect(Buffer.concat(h.received).equals(sent)).toBe(true);
    const closed = new Promise<void>((resolve) => client.once('end', resolve));
    client.end();
    await closed;
    expect(h.ended).toBe(true);
  });

  it('is refused by a client that does not trust the CA', async () => {
    const { socket } = harness(echo);
    await expect(connect(socket, { ...options, ca: undefined })).rejects.toThrow(/certificate/);
  });
});

describe('the TLS 1.3 server with Node’s tls as the client', () => {
  it('asks again with a HelloRetryRequest for a client whose first key share is not one it takes', async () => {
    const { socket } = harness(echo);
    const client = await connect(socket, { ecdhCurve: 'P-384:P-256' });
    expect(client.getEphemeralKeyInfo()).toMatchObject({ name: 'prime256v1' });
    const reply = readAll(client, 2);
    client.write('ok');
    expect((await reply).toString()).toBe('ok');
    client.destroy();
  });

  it('takes a secp256r1 key share directly', async () => {
    const { socket } = harness(echo);
    const client = await connect(socket, { ecdhCurve: 'P-256' });
    expect(client.getEphemeralKeyInfo()).toMatchObject({ name: 'prime256v1' });
    client.destroy();
  });

  it('is refused by a client for another name', async () => {
    const { socket } = harness(echo);
    await expect(connect(socket, { servername: undefined, host: 'other.test' })).rejects.toThrow(
      /other\.test|altnames/,
    );
  });
});

describe('the TLS server with a TLS 1.2 client (Node’s tls)', () => {
  const tls12 = { maxVersion: 'TLSv1.2' } as const;

  it('takes secp256r1 when the client offers no x25519', async () => {
    const { socket } = harness(echo);
    const client = await connect(socket, { ...tls12, ecdhCurve: 'P-384:P-256' });
    expect(client.getEphemeralKeyInfo()).toMatchObject({ name: 'prime256v1' });
    const reply = readAll(client, 2);
    client.write('ok');
    expect((await reply).toString()).toBe('ok');
    client.destroy();
  });

  it('refuses a client that offers no cipher suite it has', async () => {
    const { socket, failures } = harness(echo);
    await expect(connect(socket, { ...tls12, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' })).rejects.toThrow(
      /handshake failure|alert/i,
    );
    expect(failures).toEqual([
      'the client offers neither TLS 1.3 nor TLS 1.2’s ECDHE-ECDSA-AES128-GCM-SHA256 (alert handshake_failure)',
    ]);
  });
});

/** The server's answer to raw bytes: what it sent and why it failed. */
async function answer(bytes: Uint8Array): Promise<{ sent: Buffer; failures: string[] }> {
  const h = harness();
  const sent: Buffer[] = [];
  h.socket.on('data', (chunk: Buffer) => sent.push(chunk));
  h.server.receive(bytes);
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { sent: Buffer.concat(sent), failures: h.failures };
}

describe('the TLS server on bad input', () => {
  it('answers plain HTTP with an unexpected_message alert', async () => {
    const { sent, failures } = await answer(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'));
    expect([...sent]).toEqual([21, 3, 3, 0, 2, 2, 10]);
    expect(failures).toEqual(['the client did not begin with a TLS handshake (alert unexpected_message)']);
  });

  it('refuses an oversized record from its header, before its bytes come', async () => {
    const { sent, failures } = await answer(Uint8Array.of(22, 3, 1, 0x40, 0x01));
    expect([...sent]).toEqual([21, 3, 3, 0, 2, 2, 22]);
    expect(failures[0]).toMatch(/record of 16385 bytes.*record_overflow/);
  });

  it('answers a truncated ClientHello with decode_error', async () => {
    // A ClientHello message whose body claims more than its 6 bytes.
    const { sent, failures } = await answer(Uint8Array.of(22, 3, 1, 0, 10, 1, 0, 0, 6, 3, 3, 0, 0, 0, 0));
    expect([...sent]).toEqual([21, 3, 3, 0, 2, 2, 50]);
    expect(failures[0]).toMatch(/truncated.*decode_error/);
  });

  it('refuses a client of TLS 1.1 or older with protocol_version', async () => {
    // A TLS 1.1 ClientHello: version 3.2, no supported_versions, one cipher suite, no extensions.
    const body = [3, 2, ...new Array<number>(32).fill(7), 0, 0, 2, 0xc0, 0x2b, 1, 0, 0, 0];
    const hello = [1, 0, 0, body.length, ...body];
    const { sent, failures } = await answer(Uint8Array.of(22, 3, 1, 0, hello.length, ...hello));
    expect([...sent]).toEqual([21, 3, 3, 0, 2, 2, 70]);
    expect(failures).toEqual(['the client speaks neither TLS 1.3 nor TLS 1.2 (alert protocol_version)']);
  });

  it('refuses a handshake message over its bound', async () => {
    const { sent, failures } = await answer(Uint8Array.of(22, 3, 1, 0, 4, 1, 0x10, 0, 0));
    expect([...sent]).toEqual([21, 3, 3, 0, 2, 2, 50]);
    expect(failures[0]).toMatch(/too long/);
  });

  it('waits, without failing, for the rest of a record cut short', async () => {
    const { sent, failures } = await answer(Uint8Array.of(22, 3, 1, 0, 200, 1, 0));
    expect(sent.length).toBe(0);
    expect(failures).toEqual([]);
  });
});

/** A TCP port on the loopback whose connections each go to a TlsServer answering one HTTP response. */
function httpsOnLoopback(failures: string[]): Promise<{ server: Server; port: number }> {
  return tlsOnLoopback(failures, (tlsServer) => {
    tlsServer.write(
      new TextEncoder().encode('HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nhello\n'),
    );
    tlsServer.close();
  });
}

/** A TCP port on the loopback whose connections each go to a TlsServer; `onData` gets what each client sends. */
async function tlsOnLoopback(
  failures: string[],
  onData: (tlsServer: TlsServer, bytes: Uint8Array) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    const tlsServer: TlsServer = new TlsServer(
      { certificate: (name) => authority.certificateFor(name ?? '127.0.0.1') },
      {
        send: (bytes) => socket.write(bytes),
        established: () => {},
        data: (bytes) => onData(tlsServer, bytes),
        end: () => {},
        failed: (reason) => {
          failures.push(reason);
          socket.end();
        },
        drained: () => {},
      },
    );
    socket.on('data', (chunk: Buffer) => tlsServer.receive(new Uint8Array(chunk)));
    socket.on('error', () => tlsServer.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('the TLS server with the default image’s busybox (TLS 1.2 only)', () => {
  it('serves busybox’s ssl_client, which wget runs for https:// (riscv64, under qemu-user)', async () => {
    // The busybox of the default image's initramfs (public/images/default, committed), run by qemu-user.
    const folder = mkdtempSync(join(tmpdir(), 'tabvm-tls-'));
    const busybox = join(folder, 'busybox');
    const initramfs = resolve(fileURLToPath(import.meta.url), '../../../../../public/images/default/initramfs.cpio.gz');
    const extracted = await run('bash', [
      '-c',
      `zcat ${initramfs} | cpio -i --quiet --to-stdout bin/busybox > ${busybox} && chmod +x ${busybox}`,
    ]);
    expect(extracted).toMatchObject({ code: 0, stderr: '' });
    const failures: string[] = [];
    const requests: string[] = [];
    const { server, port } = await tlsOnLoopback(failures, (tlsServer, bytes) => {
      requests.push(Buffer.from(bytes).toString().split('\r\n')[0]!);
      tlsServer.write(
        new TextEncoder().encode('HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nhello\n'),
      );
      void tlsServer.close();
    });
    try {
      // ssl_client speaks TLS on fd 3 and copies stdin to it and its answers to stdout, as wget has it do.
      const client = await run('bash', [
        '-c',
        `exec 3<>/dev/tcp/127.0.0.1/${port}; (printf 'GET /bb HTTP/1.1\r\nhost: example.test\r\n\r\n'; sleep 2) | ` +
          `qemu-riscv64-static ${busybox} ssl_client -s3 -n example.test`,
      ]);
      expect(client).toMatchObject({ code: 0 });
      expect(client.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello\n$/);
      expect(requests).toEqual(['GET /bb HTTP/1.1']);
      expect(failures).toEqual([]);
    } finally {
      server.close();
    }
  });
});

describe('the TLS server with OpenSSL 3’s clients (as the guest has them)', () => {
  it('serves curl and Python’s ssl (strict X.509) with the CA, and is refused with unknown_ca without it', async () => {
    const failures: string[] = [];
    const { server, port } = await httpsOnLoopback(failures);
    const folder = mkdtempSync(join(tmpdir(), 'tabvm-tls-'));
    const caFile = join(folder, 'ca.pem');
    writeFileSync(caFile, authority.pem);
    const url = `https://example.test:${port}/`;
    const resolve = `example.test:${port}:127.0.0.1`;
    try {
      const trusted = await run('curl', ['-sS', '--cacert', caFile, '--resolve', resolve, url]);
      expect(trusted).toMatchObject({ code: 0, stdout: 'hello\n' });
      // OpenSSL as a TLS 1.2 client: it insists on secure renegotiation (RFC 5746) and takes the extended master secret.
      const tls12 = await run('curl', [
        '-sS',
        '--tls-max',
        '1.2',
        '-w',
        ' %{ssl_verify_result}',
        '--cacert',
        caFile,
        '--resolve',
        resolve,
        url,
      ]);
      expect(tls12).toMatchObject({ code: 0, stdout: 'hello\n 0' });
      const python = await run('python3', [
        '-c',
        `import ssl, socket
context = ssl.create_default_context(cafile=${JSON.stringify(caFile)})
context.verify_flags |= ssl.VERIFY_X509_STRICT
with context.wrap_socket(socket.create_connection(("127.0.0.1", ${port})), server_hostname="example.test") as s:
    s.sendall(b"GET / HTTP/1.1\\r\\nhost: example.test\\r\\n\\r\\n")
    print(s.version(), s.recv(4096).split(b"\\r\\n")[0].decode())`,
      ]);
      expect(python.stderr).toBe('');
      expect(python.stdout).toBe('TLSv1.3 HTTP/1.1 200 OK\n');
      expect(failures).toEqual([]);
      const untrusted = await run('curl', ['-sS', '--resolve', resolve, url]);
      expect(untrusted.code).toBe(60);
      await new Promise((done) => setTimeout(done, 50));
      expect(failures).toEqual(['the client sent the alert unknown_ca']);
    } finally {
      server.close();
    }
  });
});

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 20_000) throw new Error(`no ${what} within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the TLS server and OpenSSL’s s_client', () => {
  it('answers a KeyUpdate that asks for ours, and data flows under the new keys both ways', async () => {
    const received: string[] = [];
    const failures: string[] = [];
    const { server, port } = await tlsOnLoopback(failures, (tlsServer, bytes) => {
      received.push(Buffer.from(bytes).toString());
      tlsServer.write(new TextEncoder().encode(`echo ${Buffer.from(bytes).toString()}`));
    });
    const folder = mkdtempSync(join(tmpdir(), 'tabvm-tls-'));
    writeFileSync(join(folder, 'ca.pem'), authority.pem);
    const client = spawn('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      'example.test',
      '-CAfile',
      join(folder, 'ca.pem'),
      '-verify_return_error',
    ]);
    let output = '';
    client.stdout.on('data', (data: Buffer) => (output += data.toString()));
    client.stderr.on('data', (data: Buffer) => (output += data.toString()));
    try {
      await until(() => output.includes('Verify return code: 0 (ok)'), 'verified handshake');
      client.stdin.write('one\n');
      await until(() => output.includes('echo one'), 'first echo');
      // s_client's "K": a KeyUpdate with update_requested (RFC 8446 §4.6.3).
      client.stdin.write('K\n');
      await until(() => output.includes('KEYUPDATE'), 'key update');
      client.stdin.write('two\n');
      await until(() => output.includes('echo two'), 'echo under the new keys');
      expect(received).toEqual(['one\n', 'two\n']);
      expect(failures).toEqual([]);
    } finally {
      client.kill();
      server.close();
    }
  });
});
