// Builds the embedding library (src/embed) into dist-lib/, a directory ready for `npm publish dist-lib`:
//   dist-lib/index.js, tabvm-terminal.js, assets/vm.worker-*.js   (vite build --config vite.lib.config.ts;
//                                       the CPU core wasm is inlined in the worker file)
//   dist-lib/types/**.d.ts                       (tsc -p src/embed/tsconfig.lib.json)
//   dist-lib/package.json                        (written here: entry points, types, no dependencies,
//                                                 since the bundle contains them)
// The core must be compiled first (npm run build:core).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const run = (command, args) => execFileSync(command, args, { stdio: 'inherit' });
run(process.execPath, [
  'node_modules/vite/bin/vite.js',
  'build',
  '--config',
  'vite.lib.config.ts',
  '--logLevel',
  'warn',
]);
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'src/embed/tsconfig.lib.json']);

const app = JSON.parse(readFileSync('package.json', 'utf8'));
const types = (name) => `./types/src/embed/${name}.d.ts`;
const manifest = {
  name: 'tabvm',
  version: app.version,
  description: 'Live RISC-V Linux virtual machines in a web page: createVM(), run(), <tabvm-terminal>',
  type: 'module',
  license: app.license,
  exports: {
    '.': { types: types('index'), import: './index.js' },
    './tabvm-terminal': { types: types('tabvm-terminal'), import: './tabvm-terminal.js' },
  },
  types: types('index'),
  sideEffects: ['./tabvm-terminal.js'],
};
writeFileSync('dist-lib/package.json', `${JSON.stringify(manifest, null, 2)}\n`);
