// The published library's package (dist-lib/, built by `npm run build:lib`, which `npm test` runs
// first): its entry points exist and its declarations type-check a consumer's code in a project that
// has none of our dependencies (zod, xterm, comlink are bundled, so their types must not be needed).
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const DIST = resolve(import.meta.dirname, '../dist-lib');

function typeCheck(source: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tabvm-consumer-'));
  try {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(DIST, join(dir, 'node_modules', 'tabvm'), 'dir');
    const file = join(dir, 'page.ts');
    writeFileSync(file, source);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: false,
    });
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the library package', () => {
  it('has been built with its entry points and declarations', () => {
    expect(existsSync(join(DIST, 'package.json')), 'run npm run build:lib first').toBe(true);
    const manifest = JSON.parse(readFileSync(join(DIST, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; import: string }>;
    };
    for (const entry of Object.values(manifest.exports)) {
      expect(existsSync(join(DIST, entry.import)), entry.import).toBe(true);
      expect(existsSync(join(DIST, entry.types)), entry.types).toBe(true);
    }
  });

  it(
    'types a consumer page: createVM, run, events, snapshots, shared files and the element',
    { timeout: 60_000 },
    () => {
      const errors = typeCheck(`
      import { createVM, TabvmTimeoutError, type FileEntry, type RunResult, type VmState } from 'tabvm';
      import 'tabvm/tabvm-terminal';
      const vm = createVM({ image: '/images/default/manifest.json', memory: 128, container: document.body });
      vm.on('state', (state: VmState) => console.log(state));
      vm.on('output', (text) => console.log(text.length));
      export async function step(): Promise<number> {
        const result: RunResult = await vm.run('ls', { timeout: 5000 });
        await vm.waitFor(/#\\s$/);
        const element = document.querySelector('tabvm-terminal')!;
        const again = await element.run('pwd');
        const file: Uint8Array = await vm.snapshot();
        await vm.restore(file);
        await element.restore(await element.snapshot());
        const instant = createVM({ image: '/m.json', snapshotUrl: '/booted.tabvm' });
        await instant.restore();
        await vm.writeFile('poem.txt', 'two words');
        await element.writeFile('data.bin', new Uint8Array([1, 2]));
        const read: Uint8Array = await vm.readFile('poem.txt');
        const entries: FileEntry[] = await element.listFiles();
        const sizes = entries.filter((e) => e.kind === 'file').map((e) => e.size + e.modified + e.name.length);
        const page: Response = await vm.fetch(8000, '/index.html', { method: 'GET' });
        const api: Response = await element.fetch(8000, new Request('http://guest/api'));
        return page.status + api.status + read.length + sizes.length + result.exitCode + again.exitCode + (vm.mode === 'shared' ? 1 : 0) + TabvmTimeoutError.name.length;
      }
    `);
      expect(errors).toEqual([]);
    },
  );

  it('refuses a consumer that misuses the API (the declarations are not `any`)', { timeout: 60_000 }, () => {
    const errors = typeCheck(`
      import { createVM } from 'tabvm';
      const vm = createVM({ image: 'x', memory: '256' });
      export const code: string = (await vm.run('ls')).exitCode;
      vm.on('nonsense', () => undefined);
      createVM({ snapshotUrl: '/booted.tabvm' });
      export const bytes: string = await vm.snapshot();
      export const text: string = await vm.readFile('poem.txt');
      await vm.writeFile('poem.txt', 42);
      export const body: string = await vm.fetch('8000', '/');
    `);
    expect(errors).toHaveLength(9);
  });
});
