/** What the benchmarks (`npm run bench`, `npm run bench:debian`…) share: their `--runs` option, the host line, medians. */
import { cpus } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';

/** A benchmark's command line with its `--runs N` (rounds alternating tabvm and QEMU); add options, then parse. */
export function benchCommand(command: string): Command {
  return new Command().name(command).option(
    '--runs <n>',
    'rounds, alternating tabvm and QEMU; each figure is the median',
    (v) => {
      const runs = Number(v);
      if (!Number.isInteger(runs) || runs < 1) throw new InvalidArgumentError('a whole number ≥ 1');
      return runs;
    },
    3,
  );
}

/** The benchmark's `--runs N`, parsed from a command line that has no other options. */
export function benchRuns(command: string): number {
  return benchCommand(command).parse().opts<{ runs: number }>().runs;
}

/** `title — date, cores× CPU model, Node version`: the first line of a benchmark's output. */
export function hostLine(title: string): string {
  return `${title} — ${new Date().toISOString().slice(0, 10)}, ${cpus().length}× ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`;
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
