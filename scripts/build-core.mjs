// Compiles the AssemblyScript CPU core (generated files: npm test, npm run vm and npm run build run
// this first; nobody edits workers/cpu/build by hand).
//   workers/cpu/assembly/index.ts            → workers/cpu/build/core.wasm (imports the VM's shared memory)
//                                             → workers/cpu/build/core-unshared.wasm (same source over a
//                                               plain memory: pages that are not cross-origin isolated
//                                               cannot make a shared one, and a module that imports a
//                                               shared memory refuses an unshared one; atomic
//                                               instructions stay valid on unshared memory)
//   workers/cpu/assembly/test-entries/NAME.ts → workers/cpu/build/NAME.wasm (own memory, for unit tests)
//
// A build takes seconds, and every npm script that runs the VM calls this first, so it compiles only
// when its inputs changed: the digest of the sources (every file under workers/cpu/assembly and each
// file they import from outside it), this script and the compiler's version is kept in
// workers/cpu/build/sources.sha256 and compared with the current one. `--force` compiles anyway.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const common = ['--runtime', 'stub', '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert', '--use', 'abort='];
const SOURCES = 'workers/cpu/assembly';
const BUILD = 'workers/cpu/build';
/** Where the digest of the inputs of the last complete build is kept. */
export const DIGEST_FILE = `${BUILD}/sources.sha256`;

/** Every file under `dir`, recursively, in a stable order. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]));
}

/** The relative imports of an AssemblyScript file, as paths (AssemblyScript leaves out the `.ts`). */
function relativeImports(file) {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => {
    const target = resolve(dirname(file), match[1]);
    return target.endsWith('.ts') ? target : `${target}.ts`;
  });
}

/**
 * The digest of everything a build of the core depends on under `root`: the sources with what they
 * import, this script's text and the compiler's version.
 */
export function coreInputsDigest(root, compilerVersion) {
  const files = new Set(filesUnder(resolve(root, SOURCES)));
  const pending = [...files].filter((file) => file.endsWith('.ts'));
  while (pending.length > 0) {
    for (const imported of relativeImports(pending.pop())) {
      if (files.has(imported) || !existsSync(imported)) continue;
      files.add(imported);
      pending.push(imported);
    }
  }
  const hash = createHash('sha256');
  hash.update(`assemblyscript ${compilerVersion}\n`);
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  for (const file of [...files].sort()) {
    hash.update(`\n${relative(root, file)}\n`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

/** The wasm files a build writes. */
function outputs(root) {
  const entries = readdirSync(resolve(root, SOURCES, 'test-entries')).filter((f) => f.endsWith('.ts'));
  return ['core.wasm', 'core-unshared.wasm', ...entries.map((f) => f.replace(/\.ts$/, '.wasm'))].map((f) =>
    resolve(root, BUILD, f),
  );
}

/** Whether the last complete build under `root` was made from the inputs whose digest is `digest`. */
export function coreIsCurrent(root, digest) {
  const file = resolve(root, DIGEST_FILE);
  if (!existsSync(file) || readFileSync(file, 'utf8').trim() !== digest) return false;
  return outputs(root).every((out) => existsSync(out) && statSync(out).size > 0);
}

async function compile(entry, out, extra) {
  // Loaded only to compile: loading the compiler takes longer than deciding whether to run it.
  const { default: asc } = await import('assemblyscript/asc');
  const { error, stderr } = await asc.main([entry, '--outFile', out, ...common, ...extra], {});
  if (error) {
    console.error(stderr.toString());
    process.exit(1);
  }
}

async function build() {
  mkdirSync(BUILD, { recursive: true });
  await compile(`${SOURCES}/index.ts`, `${BUILD}/core.wasm`, [
    '--textFile', `${BUILD}/core.wat`,
    '--importMemory',
    '--importTable',
    '--sharedMemory',
    '--initialMemory', '256',
    '--maximumMemory', '65536',
    '--enable', 'threads',
  ]);
  await compile(`${SOURCES}/index.ts`, `${BUILD}/core-unshared.wasm`, [
    '--importMemory',
    '--importTable',
    '--initialMemory', '256',
    '--maximumMemory', '65536',
    '--enable', 'threads',
  ]);
  const entries = `${SOURCES}/test-entries`;
  for (const file of readdirSync(entries).filter((f) => f.endsWith('.ts'))) {
    await compile(`${entries}/${file}`, `${BUILD}/${file.replace(/\.ts$/, '.wasm')}`, []);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(fileURLToPath(import.meta.url), '../..');
  process.chdir(root);
  const { version } = createRequire(import.meta.url)('assemblyscript/package.json');
  const digest = coreInputsDigest(root, version);
  if (!process.argv.includes('--force') && coreIsCurrent(root, digest)) process.exit(0);
  // Gone while the build runs: a build that fails or is interrupted leaves no digest, so the next one compiles.
  rmSync(DIGEST_FILE, { force: true });
  await build();
  writeFileSync(DIGEST_FILE, `${digest}\n`);
}
