/**
 * Enough of vitest's API for a suite written for vitest to run in a browser page or worker, where
 * vitest itself does not (no browser mode here): `describe`, `it`, `beforeEach` record the tests and
 * `expect` is vitest's own (@vitest/expect over chai). Bundles alias `vitest` to this file
 * (e2e/handle-tree.spec.ts); `runTests` then runs what was recorded, in order.
 */
import { chai, JestAsymmetricMatchers, JestChaiExpect, JestExtend } from '@vitest/expect';
import type { expect as vitestExpect } from 'vitest';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

export const expect = chai.expect as unknown as typeof vitestExpect;

type Body = () => unknown;
interface Recorded {
  readonly name: string;
  readonly body: Body;
  readonly setup: readonly Body[];
}

const recorded: Recorded[] = [];
const prefixes: string[] = [];
let setups: Body[] = [];

export function describe(name: string, body: () => void): void {
  const outer = setups;
  setups = [...outer];
  prefixes.push(name);
  body();
  prefixes.pop();
  setups = outer;
}

export function beforeEach(body: Body): void {
  setups.push(body);
}

export function it(name: string, body: Body): void {
  recorded.push({ name: [...prefixes, name].join(' > '), body, setup: setups });
}

export interface TestResult {
  readonly name: string;
  /** The failure's message and stack, or null when the test passed. */
  readonly error: string | null;
}

export async function runTests(): Promise<TestResult[]> {
  const results: TestResult[] = [];
  for (const test of recorded) {
    try {
      for (const setup of test.setup) await setup();
      await test.body();
      results.push({ name: test.name, error: null });
    } catch (error) {
      results.push({
        name: test.name,
        error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error),
      });
    }
  }
  return results;
}
