import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layering (STYLE.md's layout table; docs/architecture.md, "What each folder may import"). Each entry
 * forbids the imports its folder must not make; the message names the rule. Imports are relative, so a
 * pattern matches the target folder after any number of `../` (an import inside the folder starts with
 * `./` and never matches). `no-restricted-imports` also refuses `import type` from a forbidden folder.
 * In flat config the last matching object's options win, so every file gets exactly one list.
 */
const up = '^(\\.\\./)+';
const forbid = (folders, message) => ({ regex: `${up}(${folders.join('|')})(/|\\.|$)`, message });

// Two exceptions: the shared-folder tree over a directory handle, which the page's Files panel and the VM's
// worker both serve a folder with (docs/shared-folders.md), and the FileTree types it implements; and the
// browser's network, which runs in the page (docs/networking.md, "The browser").
const workersOnlyProtocol = {
  regex: `${up}workers/(?!protocol/|host/9p/(handle|file)-tree\\.ts$|host/net/(browser-network|fetch-gateway)\\.ts$)`,
  message:
    'Layering: src/ imports only workers/protocol (and the shared-folder tree, host/9p/handle-tree.ts, and the browser network, host/net/browser-network.ts) from workers/.',
};
const notSrc = {
  regex: `${up}src/`,
  message: 'Layering: nothing under workers/ imports src/ (the worker knows no page, DOM, React or storage).',
};
const notUiPackages = {
  group: ['react', 'react-dom', 'react-dom/*', '@xterm/*', 'idb-keyval'],
  message: "Layering: nothing under workers/ knows React, xterm or the page's storage (STYLE.md habit 10).",
};

/** The page's folders, lowest first: each may import the ones before it, never the ones after. */
const srcLayers = [
  ['storage', []],
  ['console', []],
  ['controller', ['storage']],
  ['embed', ['console', 'controller']],
  ['app', ['console', 'controller', 'storage']],
  ['tutorial', ['embed']],
];
const srcFolders = srcLayers.map(([name]) => name);

const layers = [
  ...srcLayers.map(([name, allowed]) => ({
    files: [`src/${name}/**/*.{ts,tsx}`],
    patterns: [
      workersOnlyProtocol,
      forbid(
        srcFolders.filter((f) => f !== name && !allowed.includes(f)),
        `Layering: src/${name} may import ${allowed.length ? allowed.map((f) => `src/${f}`).join(', ') : 'no other src/ folder'} and workers/protocol.`,
      ),
    ],
  })),
  { files: ['src/*.{ts,tsx}'], patterns: [workersOnlyProtocol] },
  {
    files: ['workers/**/*.ts'],
    patterns: [
      notSrc,
      notUiPackages,
      forbid(['vm\\.worker'], 'Layering: only the worker entry is workers/vm.worker.ts; nothing imports it.'),
    ],
  },
  {
    files: ['workers/protocol/**/*.ts'],
    patterns: [
      notSrc,
      notUiPackages,
      forbid(
        ['bus', 'cpu', 'devices', 'host', 'machine', 'vm\\.worker', 'workers'],
        'Layering: workers/protocol is what page and worker share; it imports nothing else of tabvm.',
      ),
    ],
  },
  {
    files: ['workers/cpu/**/*.ts'],
    patterns: [
      notSrc,
      notUiPackages,
      forbid(
        ['bus', 'devices', 'host', 'machine', 'vm\\.worker'],
        'Layering: workers/cpu may import workers/protocol only.',
      ),
    ],
  },
  {
    files: ['workers/bus/**/*.ts'],
    patterns: [
      notSrc,
      notUiPackages,
      forbid(
        ['cpu', 'devices', 'host', 'machine', 'vm\\.worker'],
        'Layering: workers/bus is the device contract; it imports workers/protocol only.',
      ),
    ],
  },
  {
    files: ['workers/host/**/*.ts'],
    patterns: [
      notSrc,
      notUiPackages,
      forbid(
        ['bus', 'cpu', 'devices', 'machine', 'vm\\.worker'],
        'Layering: workers/host (the ports) may import workers/protocol only.',
      ),
    ],
  },
  {
    files: ['workers/devices/**/*.ts'],
    patterns: [
      notSrc,
      notUiPackages,
      forbid(
        ['cpu', 'machine', 'vm\\.worker'],
        'Layering: workers/devices may import workers/bus, workers/host (ports) and workers/protocol; the machine hands a device what it needs (clock, IRQ lines, geometry).',
      ),
    ],
  },
  {
    files: ['e2e/**/*.ts'],
    patterns: [
      forbid(
        ['src', 'workers', 'scripts', 'tests'],
        'Layering: e2e specs drive the page as a person does; they import none of its code.',
      ),
    ],
  },
  // Tests may reach further than the code they test: a device's test runs it on the machine's real
  // clock and table, and the page's tests may use the worker's own code and test helpers (e.g.
  // snapshots.test.ts builds snapshot files with workers/test-support). They still never cross the
  // page/worker line the other way.
  { files: ['src/**/*.test.ts', 'src/test-support/**/*.ts'], patterns: [] },
  {
    files: ['workers/**/*.test.ts', 'workers/**/test-support/**/*.ts', 'workers/devices/test-support.ts'],
    patterns: [notSrc, notUiPackages],
  },
];

export default tseslint.config(
  {
    // The AssemblyScript core uses decorators on functions (@inline, @external) that only asc parses;
    // it is type-checked by asc itself. Generated output and dependencies are not ours.
    ignores: [
      'node_modules/',
      'dist/',
      'dist-lib/',
      'workers/cpu/build/',
      'workers/cpu/assembly/',
      'public/',
      'build/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...layers.map(({ files, patterns }) => ({
    files,
    rules: { 'no-restricted-imports': patterns.length ? ['error', { patterns }] : 'off' },
  })),
);
