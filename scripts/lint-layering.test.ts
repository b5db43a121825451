// The layering rules of eslint.config.js (docs/architecture.md, "What each folder may import") refuse
// what they should and let through what the code needs: each case lints one import as if it were written
// in a file at that path, with the project's own configuration.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

/** The layering messages ESLint gives for `source` placed at `filePath`. */
async function layeringErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport { x };\n`, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering rules', () => {
  it.each([
    [
      'src/controller/x.ts',
      "import { x } from '../../workers/machine/memory-map.ts';",
      /src\/ imports only workers\/protocol/,
    ],
    [
      'src/app/x.tsx',
      "import type { x } from '../../workers/machine/machine.ts';",
      /src\/ imports only workers\/protocol/,
    ],
    [
      'src/storage/x.ts',
      "import { x } from '../controller/images.ts';",
      /src\/storage may import no other src\/ folder/,
    ],
    ['src/controller/x.ts', "import { x } from '../app/App.tsx';", /src\/controller may import src\/storage/],
    [
      'workers/devices/x.ts',
      "import { x } from '../machine/memory-map.ts';",
      /workers\/devices may import workers\/bus/,
    ],
    ['workers/devices/virtio/x.ts', "import { x } from '../../machine/clock.ts';", /workers\/devices may import/],
    ['workers/devices/x.ts', "import { x } from '../cpu/core.ts';", /workers\/devices may import/],
    ['workers/protocol/x.ts', "import { x } from '../host/char-port.ts';", /workers\/protocol .* imports nothing else/],
    ['workers/cpu/x.ts', "import { x } from '../bus/bus.ts';", /workers\/cpu may import workers\/protocol only/],
    [
      'workers/host/x.ts',
      "import { x } from '../devices/plic.ts';",
      /workers\/host .* may import workers\/protocol only/,
    ],
    ['workers/machine/x.ts', "import { x } from '../../src/app/library.ts';", /nothing under workers\/ imports src\//],
    ['workers/machine/x.ts', "import { x } from '../vm.worker.ts';", /nothing imports it/],
    ['workers/bus/x.ts', "import { x } from 'react';", /nothing under workers\/ knows React/],
    [
      'workers/devices/x.test.ts',
      "import { x } from '../../src/app/library.ts';",
      /nothing under workers\/ imports src\//,
    ],
    ['e2e/x.spec.ts', "import { x } from '../src/app/library.ts';", /e2e specs drive the page/],
  ])('%s: %s is refused', async (filePath, source, message) => {
    const errors = await layeringErrors(filePath, source);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^'.*' import is restricted .*Layering: /);
    expect(errors[0]).toMatch(message);
  });

  it.each([
    ['src/controller/x.ts', "import { x } from '../../workers/protocol/ring.ts';"],
    ['src/controller/x.ts', "import { x } from '../storage/disk-overlay.ts';"],
    ['src/embed/x.ts', "import { x } from '../console/vm-console-addon.ts';"],
    ['src/main.tsx', "import { x } from './app/App.tsx';"],
    ['workers/devices/virtio/x.ts', "import { x } from '../../bus/device.ts';"],
    ['workers/devices/x.ts', "import { x } from '../host/block/backend.ts';"],
    ['workers/devices/x.test.ts', "import { x } from '../machine/clock.ts';"],
    ['workers/machine/x.ts', "import { x } from '../devices/plic.ts';"],
    ['workers/protocol/x.ts', "import { x } from './ring.ts';"],
    ['src/controller/x.test.ts', "import { x } from '../../workers/machine/snapshot.ts';"],
    ['scripts/x.ts', "import { x } from '../workers/machine/machine.ts';"],
    ['tests/x.test.ts', "import { x } from '../src/storage/snapshot-store.ts';"],
  ])('%s: %s is allowed', async (filePath, source) => {
    expect(await layeringErrors(filePath, source)).toEqual([]);
  });
});
