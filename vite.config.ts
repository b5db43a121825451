import { defineConfig, type Connect, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { createReadStream, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { compressImageFiles } from './scripts/lib/compress-image-files.ts';

// Cross-origin isolation (README, "Hosting"): with these headers `crossOriginIsolated` is true, so guest
// RAM can be a SharedArrayBuffer and consoles use shared rings. TABVM_NO_ISOLATION=1 serves the same app
// without them, which is how the e2e tests exercise the fallback mode.
const isolation: Record<string, string> = process.env.TABVM_NO_ISOLATION
  ? {}
  : {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    };

/**
 * Document-Isolation-Policy (a Chromium header, shipped in Chrome 137) makes one document cross-origin
 * isolated without COOP/COEP on the page around it. The iframe page embed.html sends it, so a tutorial
 * that embeds tabvm in an iframe gets the shared mode on a host that sends no isolation headers at all;
 * browsers without it ignore the header and use the fallback. `require-corp`: all of embed.html's
 * subresources are its own, same-origin files.
 */
function embedIsolation(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname === '/embed.html') {
      res.setHeader('Document-Isolation-Policy', 'isolate-and-require-corp');
    }
    next();
  };
  return {
    name: 'tabvm-embed-isolation',
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
  };
}

/**
 * Image files must reach the page byte for byte, as the manifest's sizes and sha256 describe them. The
 * dev server sends `initramfs.cpio.gz` with `Content-Encoding: gzip`, so the browser would hand over the
 * decompressed bytes; this serves everything under /images/ as plain octets instead (the README asks
 * static hosts for the same). A file that is not there is a 404, not the app's index.html (Vite's
 * fallback for unknown paths): the Debian package mirror's clients (apt, through the network's HTTP
 * gateway) must see a package outside it as missing.
 */
function rawImages(): Plugin {
  const middleware =
    (root: () => string): Connect.NextHandleFunction =>
    (req, res, next) => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (!pathname.startsWith('/images/') || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
      const base = resolve(root());
      const file = resolve(base, `.${pathname}`);
      if (!file.startsWith(base + sep)) return next();
      for (const [name, value] of Object.entries(isolation)) res.setHeader(name, value);
      let size: number;
      try {
        const stat = statSync(file);
        if (!stat.isFile()) return void res.writeHead(404).end();
        size = stat.size;
      } catch {
        return void res.writeHead(404).end();
      }
      res.setHeader('Content-Type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
      res.setHeader('Content-Length', String(size));
      res.setHeader('Cache-Control', 'no-cache');
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).pipe(res);
    };
  let publicDir = 'public';
  let outDir = 'dist';
  return {
    name: 'tabvm-raw-images',
    configResolved(config) {
      publicDir = config.publicDir;
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use(middleware(() => publicDir));
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware(() => outDir));
    },
    // The built copy's boot files get gzip variants the page downloads instead (compress-image-files.ts).
    closeBundle() {
      for (const file of compressImageFiles(resolve(outDir, 'images')))
        this.info(`images/${file.image}/${file.path}: ${file.size} bytes, ${file.gzipSize} gzipped`);
    },
  };
}

/**
 * The guest-server Service Worker (docs/networking.md, "Guest servers") at `<base>vm-sw.js`, so its
 * scope can be `<base>vm/` without a Service-Worker-Allowed header: one ES module, emitted under that
 * fixed name by the build (its imports bundled in) and compiled on request by the dev server (which
 * serves its imports as it serves the app's modules).
 */
function guestServerWorker(): Plugin {
  const source = 'workers/service-worker/guest-servers.sw.ts';
  let base = '/';
  let building = false;
  return {
    name: 'tabvm-guest-server-worker',
    configResolved(config) {
      base = config.base;
      building = config.command === 'build';
    },
    buildStart() {
      if (!building) return;
      this.emitFile({ type: 'chunk', id: resolve(source), fileName: 'vm-sw.js' });
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (new URL(req.url ?? '/', 'http://localhost').pathname !== `${base}vm-sw.js`) return next();
        server
          .transformRequest(`/${source}`)
          .then((result) => {
            if (!result) return next();
            for (const [name, value] of Object.entries(isolation)) res.setHeader(name, value);
            res.setHeader('Content-Type', 'text/javascript');
            res.setHeader('Cache-Control', 'no-cache');
            res.end(result.code);
          })
          .catch(next);
      });
    },
  };
}

export default defineConfig({
  plugins: [react(), rawImages(), embedIsolation(), guestServerWorker()],
  server: { headers: isolation },
  preview: { headers: isolation },
  worker: { format: 'es' },
  // React, xterm and zod in one chunk: about 190 kB gzipped, loaded once.
  // Three pages: the app, the example tutorial and the iframe endpoint for embedding.
  build: {
    chunkSizeWarningLimit: 800,
    rollupOptions: { input: { main: 'index.html', tutorial: 'tutorial.html', embed: 'embed.html' } },
  },
  // The test tiers (docs/testing.md), one vitest project each; `npm run test:<tier>` runs one, `npm test`
  // all of them in this order. A new file under tests/ is a Node boot test unless a tier below claims it.
  test: {
    testTimeout: 20_000,
    projects: [
      // Unit tests beside the code (and the image chunker's, which needs no guest).
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['workers/**/*.test.ts', 'scripts/**/*.test.ts', 'src/**/*.test.ts', 'tests/chunk-disk.test.ts'],
        },
      },
      // The CPU's unit tests once more with the JIT translating every block at its first visit (the
      // test machine of workers/cpu/test-support reads TABVM_JIT_THRESHOLD; without it, it interprets).
      {
        extends: true,
        test: { name: 'cpu-jit', include: ['workers/cpu/**/*.test.ts'], env: { TABVM_JIT_THRESHOLD: '1' } },
      },
      // Bare-metal guest programs (tests/baremetal/bin) on the whole machine.
      { extends: true, test: { name: 'baremetal', include: ['tests/baremetal.test.ts'] } },
      // Untrusted input (docs/fuzzing.md): the fuzzer's regressions replayed, and the CLI's refusals of
      // bombs and bad manifests measured; `npm run test:fuzz` then runs the seeded fuzzer for 60 s.
      { extends: true, test: { name: 'fuzz', include: ['tests/fuzz/**/*.test.ts'] } },
      // Linux (the committed default image) booted in Node: runner, shell, virtio, snapshots.
      {
        extends: true,
        test: {
          name: 'boot',
          include: ['tests/**/*.test.ts'],
          exclude: [
            'tests/chunk-disk.test.ts',
            'tests/baremetal.test.ts',
            'tests/debian.test.ts',
            'tests/debian-mirror.test.ts',
            'tests/debian-https.test.ts',
            'tests/embed-lib.test.ts',
            'tests/fuzz/**',
          ],
        },
      },
      // The Debian image (built by `npm run image:debian`, as root) under tabvm and under QEMU, and its
      // package mirror, and HTTPS through the browser's network.
      {
        extends: true,
        test: {
          name: 'debian',
          include: ['tests/debian.test.ts', 'tests/debian-mirror.test.ts', 'tests/debian-https.test.ts'],
        },
      },
      // The published library's package (dist-lib/, built by `npm run build:lib`).
      { extends: true, test: { name: 'lib', include: ['tests/embed-lib.test.ts'] } },
    ],
  },
});
