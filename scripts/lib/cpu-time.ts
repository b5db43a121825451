/** CPU time for the benchmarks: what an emulator process really cost, which other load does not inflate. */
import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * CPU seconds consumed so far by the descendants of process `root` (this one by default) whose command line
 * contains `name`: a browser with all its helper processes (renderers, GPU, network), Linux /proc. A
 * process that already ended no longer counts.
 */
export function descendantsCpuSeconds(name: string, root = process.pid): number {
  const table = processTable();
  let ticks = 0;
  for (const process of table.values()) {
    if (!process.cmdline.includes(name)) continue;
    for (let up = process.ppid; up > 1; up = table.get(up)?.ppid ?? 0) {
      if (up === root) {
        ticks += process.ticks;
        break;
      }
    }
  }
  return ticks / 100;
}

/**
 * Every process (Linux /proc): its parent, the CPU ticks it used so far (utime + stime, 100 per second),
 * and its command line with spaces between the arguments. A process that ends while it is read is left out.
 */
export function processTable(): Map<number, { ppid: number; ticks: number; cmdline: string }> {
  const table = new Map<number, { ppid: number; ticks: number; cmdline: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      table.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), cmdline });
    } catch {
      // The process ended while it was read.
    }
  }
  return table;
}
