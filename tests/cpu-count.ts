// What a booted Linux says about its CPUs, for the tests that boot it with N harts (docs/harts.md).

/** The guest command whose output cpuCount reads: nproc, then /proc/cpuinfo's processor and hart lines. */
export const CPU_COUNT_COMMAND = "nproc; grep -E '^(processor|hart)[[:space:]]*:' /proc/cpuinfo";

/**
 * nproc's answer and the numbers of /proc/cpuinfo's `processor` and `hart` lines (the hart ids sorted:
 * Linux numbers its CPUs in the order it brought them up, the boot hart first, whichever OpenSBI's
 * lottery chose), from the lines the command printed.
 */
export function cpuCount(lines: readonly string[]): { nproc: number[]; processors: number[]; harts: number[] } {
  const numbers = (pattern: RegExp) =>
    lines.flatMap((line) => {
      const match = pattern.exec(line.trim());
      return match ? [Number(match[1])] : [];
    });
  return {
    nproc: numbers(/^(\d+)$/),
    processors: numbers(/^processor\s*:\s*(\d+)$/),
    harts: numbers(/^hart\s*:\s*(\d+)$/).sort((a, b) => a - b),
  };
}

/** What cpuCount must read for `harts` harts: nproc says so, and each CPU is listed once, numbered from 0. */
export function expectedCpuCount(harts: number): { nproc: number[]; processors: number[]; harts: number[] } {
  const each = Array.from({ length: harts }, (_, i) => i);
  return { nproc: [harts], processors: each, harts: each };
}
