/**
 * Fakes for device unit tests: an interrupt line that records what it was driven to, and a host
 * clock whose time the test sets. (Not imported by production code.)
 */
import type { IrqLine } from '../bus/device.ts';

export class RecordingIrqLine implements IrqLine {
  level = false;
  /** Every set() call in order, including repeats of the same level. */
  readonly history: boolean[] = [];

  set(level: boolean): void {
    this.level = level;
    this.history.push(level);
  }

  /** How many times the line went from low to high over its history. */
  get rises(): number {
    let rises = 0;
    let previous = false;
    for (const level of this.history) {
      if (level && !previous) rises++;
      previous = level;
    }
    return rises;
  }
}

/** A host clock in milliseconds, for GuestClock's `now`. */
export class FakeHostTime {
  ms = 0;
  readonly now = (): number => this.ms;
}

/** A JSON round trip: saved device states must survive JSON.stringify (no bigint, no typed arrays). */
export function throughJson<T>(state: T): T {
  return JSON.parse(JSON.stringify(state)) as T;
}
