// The benchmark's checks against what real guests printed: the host computes the expected values, and a
// value a broken guest (or a broken generator here) would print instead fails.
import { describe, expect, it } from 'vitest';
import { debianWorkloads, defaultImageWorkloads, type Workload } from './bench-workloads.ts';

const byName = (workloads: Workload[], part: string): Workload => workloads.find((w) => w.name.includes(part))!;
const accepts = (workload: Workload, lines: string[]): boolean => workload.expect.test(lines.join('\n'));

describe('the benchmark workloads’ checks', () => {
  it('gzip: the input’s sha256 as QEMU’s guest printed it, before and after the round trip', () => {
    const gzip = byName(defaultImageWorkloads(), 'gzip');
    const sha = 'c0656acd7f66739bdd38b6c019ac1b78e7f83ba353c93e7eb399822a107600e6';
    expect(accepts(gzip, [`${sha}  /tmp/in`, `${sha}  -`, 'gz-bytes=6137582'])).toBe(true);
    expect(accepts(gzip, [`${sha}  /tmp/in`, `${'0'.repeat(64)}  -`, 'gz-bytes=6137582'])).toBe(false);
    expect(accepts(gzip, [`${sha}  /tmp/in`])).toBe(false);
  });

  it('the shell loop and sha256 of 8 MiB of zeros', () => {
    const [loop, sha] = defaultImageWorkloads();
    expect(accepts(loop!, ['loop=20000', 'real 0m 1.00s'])).toBe(true);
    expect(accepts(loop!, ['loop=19999'])).toBe(false);
    const zeros = '2daeb1f36095b44b318410b3f4e8b5d989dcc7bb023d1426c492dab0a3053e74';
    expect(accepts(sha!, [`${zeros}  -`])).toBe(true);
    expect(accepts(sha!, [`${zeros.replace('2', '3')}  -`])).toBe(false);
  });

  it('Python’s sum of squares and the C program’s output', () => {
    const [python, gcc] = debianWorkloads();
    // Σ i² for i < 300000 = 299999 · 300000 · 599999 / 6.
    expect(accepts(python!, ['42', '8999955000050000'])).toBe(true);
    expect(accepts(python!, ['42', '8999955000050001'])).toBe(false);
    expect(accepts(gcc!, ['source-ok', 'primes below 100000: 9592, checksum 17346396548125304297'])).toBe(true);
    expect(accepts(gcc!, ['primes below 100000: 9592, checksum 17346396548125304297'])).toBe(false);
  });
});
