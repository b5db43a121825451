/**
 * The properties every fuzz input must keep, checked one input at a time (by `npm run fuzz` and by the
 * replay of tests/fuzz/regressions): it is accepted, or refused with one of its target's refusal
 * classes and a plain sentence; it finishes within the time bound (CPU time of this process, which a
 * loaded machine does not stretch as it does wall time); and the process's peak memory does not rise
 * past the memory bound while it runs. Anything else is a finding.
 */
import type { FuzzTarget } from './targets.ts';

export interface Limits {
  /** CPU time (user and system) one input may take. */
  readonly cpuMs: number;
  /** How far the process's peak RSS may rise above the run's starting RSS. */
  readonly peakRiseBytes: number;
}

export const DEFAULT_LIMITS: Limits = { cpuMs: 2000, peakRiseBytes: 256 * 1024 * 1024 };

export type Outcome =
  | { readonly kind: 'accepted'; readonly what: string; readonly ms: number; readonly cpuMs: number }
  | {
      readonly kind: 'refused';
      readonly error: string;
      readonly message: string;
      readonly ms: number;
      readonly cpuMs: number;
    }
  | { readonly kind: 'finding'; readonly problem: string; readonly ms: number; readonly cpuMs: number };

/** Messages that leak the implementation instead of saying what is wrong with the input. */
const RAW_MESSAGE =
  /is not a function|Cannot read prop|Cannot set prop|is not iterable|undefined|NaN|\[object |Maximum call stack|out of memory|Invalid array length/;

/** The process's peak resident set so far, in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Whether a refusal message is a plain sentence: one line, short, not a leaked runtime message. */
export function plainSentence(message: string): boolean {
  return message.length > 0 && message.length <= 400 && !message.includes('\n') && !RAW_MESSAGE.test(message);
}

export async function checkInput(
  target: FuzzTarget,
  input: Uint8Array,
  baselineRss: number,
  limits: Limits,
): Promise<Outcome> {
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const cpuMs = (): number => {
    const used = process.cpuUsage(cpuStarted);
    return (used.user + used.system) / 1000;
  };
  let outcome: Outcome;
  try {
    const what = await target.run(input);
    outcome = { kind: 'accepted', what, ms: performance.now() - started, cpuMs: cpuMs() };
  } catch (error) {
    const ms = performance.now() - started;
    const cpu = cpuMs();
    const known = target.refusals.some((cls) => error instanceof cls);
    const message = error instanceof Error ? error.message : String(error);
    if (!known) {
      const name = error instanceof Error ? error.name : typeof error;
      outcome = { kind: 'finding', problem: `not a refusal: ${name}: ${message.split('\n')[0]}`, ms, cpuMs: cpu };
    } else if (!plainSentence(message)) {
      outcome = {
        kind: 'finding',
        problem: `refusal without a plain sentence: ${JSON.stringify(message.slice(0, 200))}`,
        ms,
        cpuMs: cpu,
      };
    } else {
      outcome = { kind: 'refused', error: (error as Error).name, message, ms, cpuMs: cpu };
    }
  }
  if (outcome.kind !== 'finding' && outcome.cpuMs > limits.cpuMs) {
    const problem = `took ${outcome.cpuMs.toFixed(0)} ms of CPU (limit ${limits.cpuMs})`;
    outcome = { kind: 'finding', problem, ms: outcome.ms, cpuMs: outcome.cpuMs };
  }
  const rise = peakRss() - baselineRss;
  if (outcome.kind !== 'finding' && rise > limits.peakRiseBytes) {
    outcome = {
      kind: 'finding',
      problem: `peak RSS rose ${(rise / 2 ** 20).toFixed(0)} MiB (limit ${limits.peakRiseBytes / 2 ** 20})`,
      ms: outcome.ms,
      cpuMs: outcome.cpuMs,
    };
  }
  return outcome;
}
