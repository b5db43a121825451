// Every input the fuzzer ever found a problem with (tests/fuzz/regressions/<target>/), replayed through
// the same property check: accepted, or refused by a known error class in a plain sentence, in bounded
// time and memory. `npm run fuzz` writes new findings there; each stays as a test once fixed.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkInput, DEFAULT_LIMITS } from '../../scripts/fuzz/check.ts';
import { FUZZ_TARGETS } from '../../scripts/fuzz/targets.ts';

const directory = new URL('./regressions/', import.meta.url);
const cases = readdirSync(directory, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .flatMap((entry) => readdirSync(new URL(`${entry.name}/`, directory)).map((file) => [entry.name, file] as const));

describe('fuzz regressions', () => {
  it('has inputs, each under the name of a target', () => {
    expect(cases.length).toBeGreaterThan(0);
    for (const [target] of cases) expect(FUZZ_TARGETS.map((t) => t.name)).toContain(target);
  });

  it.each(cases)('%s/%s keeps the properties', async (name, file) => {
    const target = FUZZ_TARGETS.find((t) => t.name === name)!;
    const input = new Uint8Array(readFileSync(new URL(`${name}/${file}`, directory)));
    const outcome = await checkInput(target, input, process.memoryUsage().rss, DEFAULT_LIMITS);
    expect(outcome.kind === 'finding' ? outcome.problem : outcome.kind).toMatch(/^(accepted|refused)$/);
  });
});
