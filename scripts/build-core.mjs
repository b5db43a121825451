// Compiles the AssemblyScript CPU core (generated files: npm test, npm run vm and npm run build run
// this first; nobody edits workers/cpu/build by hand).
//   workers/cpu/assembly/index.ts            → workers/cpu/build/core.wasm (imports the VM's shared memory)
//                                             → workers/cpu/build/core-unshared.wasm (same source over a
//                                               plain memory: pages that are not cross-origin isolated
//                                               cannot make a shared one, and a module that imports a
//                                               shared memory refuses an unshared one; atomic
//                                               instructions stay valid on unshared memory)
//   workers/cpu/assembly/test-entries/NAME.ts → workers/cpu/build/NAME.wasm (own memory, for unit tests)
import asc from 'assemblyscript/asc';
import { mkdirSync, readdirSync } from 'node:fs';

const common = ['--runtime', 'stub', '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert', '--use', 'abort='];

async function compile(entry, out, extra) {
  const { error, stderr } = await asc.main([entry, '--outFile', out, ...common, ...extra], {});
  if (error) {
    console.error(stderr.toString());
    process.exit(1);
  }
}

mkdirSync('workers/cpu/build', { recursive: true });
await compile('workers/cpu/assembly/index.ts', 'workers/cpu/build/core.wasm', [
  '--textFile', 'workers/cpu/build/core.wat',
  '--importMemory',
  '--importTable',
  '--sharedMemory',
  '--initialMemory', '256',
  '--maximumMemory', '65536',
  '--enable', 'threads',
]);
await compile('workers/cpu/assembly/index.ts', 'workers/cpu/build/core-unshared.wasm', [
  '--importMemory',
  '--importTable',
  '--initialMemory', '256',
  '--maximumMemory', '65536',
  '--enable', 'threads',
]);
const entries = 'workers/cpu/assembly/test-entries';
for (const file of readdirSync(entries).filter((f) => f.endsWith('.ts'))) {
  await compile(`${entries}/${file}`, `workers/cpu/build/${file.replace(/\.ts$/, '.wasm')}`, []);
}
