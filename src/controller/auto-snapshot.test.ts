/**
 * The activity meter that decides when an automatic snapshot is due: an idle guest's few instructions
 * and the console's replay of earlier output are no change; output, or instructions beyond the idle
 * rate, are; a capture starts the count again, and a failed one leaves it due.
 */
import { describe, expect, it } from 'vitest';
import { ActivityMeter, IDLE_MIPS, type MeteredVm } from './auto-snapshot.ts';
import type { VmView } from './vm-controller.ts';

function vm(printedBefore: Uint8Array) {
  let view: Pick<VmView, 'phase' | 'mips'> = { phase: 'stopped', mips: 0 };
  const listeners = new Set<() => void>();
  const outputs = new Set<(bytes: Uint8Array) => void>();
  const metered: MeteredVm = {
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    getView: () => view,
    console: {
      subscribe: (onOutput) => {
        onOutput(printedBefore);
        outputs.add(onOutput);
        return () => outputs.delete(onOutput);
      },
    },
  };
  return {
    metered,
    show: (next: Pick<VmView, 'phase' | 'mips'>) => {
      view = next;
      for (const listener of listeners) listener();
    },
    print: () => {
      for (const onOutput of outputs) onOutput(Uint8Array.of(0x41));
    },
  };
}

describe('activity meter', () => {
  it('counts output and busy instructions since the last capture, not an idle guest or the replay', () => {
    let now = 0;
    const { metered, show, print } = vm(Uint8Array.of(1, 2, 3));
    const meter = new ActivityMeter(metered, () => now);
    expect(meter.changed).toBe(false);
    // Started: a state nothing stores yet.
    show({ phase: 'running', mips: 0 });
    expect(meter.changed).toBe(true);
    meter.captured();
    expect(meter.changed).toBe(false);

    // Idling for a minute at just under the idle rate: no change.
    for (let s = 1; s <= 60; s++) {
      now = s * 1000;
      show({ phase: 'running', mips: IDLE_MIPS * 0.9 });
    }
    expect(meter.changed).toBe(false);
    // Two seconds of a busy guest: due.
    now += 1000;
    show({ phase: 'running', mips: IDLE_MIPS * 2 });
    now += 1000;
    show({ phase: 'running', mips: IDLE_MIPS * 2 });
    expect(meter.changed).toBe(true);
    meter.captured();
    print();
    expect(meter.changed).toBe(true);
    meter.captured();
    meter.failed();
    expect(meter.changed).toBe(true);

    meter.dispose();
    meter.captured();
    print();
    show({ phase: 'running', mips: 100 });
    expect(meter.changed).toBe(false);
  });

  it('takes a VM met already running as changed', () => {
    const { metered, show } = vm(new Uint8Array());
    show({ phase: 'running', mips: 0 });
    expect(new ActivityMeter(metered).changed).toBe(true);
  });
});
