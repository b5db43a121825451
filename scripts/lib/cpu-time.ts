/** CPU time for the benchmarks: what an emulator process really cost, which other load does not inflate. */
import { readFileSync } from 'node:fs';

/** CPU seconds consumed so far by a process: this one, or a child by pid (Linux /proc). */
export function cpuSeconds(pid?: number): number {
  if (pid === undefined) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of proc(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
