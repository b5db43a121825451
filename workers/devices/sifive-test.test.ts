import { describe, expect, it } from 'vitest';
import { Bus } from '../bus/bus.ts';
import { GuestErrorLog } from '../bus/guest-log.ts';
import { SifiveTest } from './sifive-test.ts';

function setup() {
  const events: string[] = [];
  const messages: string[] = [];
  const device = new SifiveTest(
    { powerOff: (code) => events.push(`off ${code}`), reset: () => events.push('reset') },
    new GuestErrorLog((m) => messages.push(m)),
  );
  return { device, events, messages };
}

describe('SiFive test finisher', () => {
  it('powers off with code 0 on PASS, from a 32-bit or a 16-bit (OpenSBI) write', () => {
    const { device, events } = setup();
    device.write(0, 0x5555n, 4);
    device.write(0, 0x5555n, 2);
    expect(events).toEqual(['off 0', 'off 0']);
  });

  it('powers off with the code from bits 31:16 on FAIL', () => {
    const { device, events } = setup();
    device.write(0, 0x0042_3333n, 4);
    device.write(0, 0xffff_3333n, 4);
    expect(events).toEqual(['off 66', 'off 65535']);
  });

  it('resets on RESET', () => {
    const { device, events } = setup();
    device.write(0, 0x7777n, 4);
    expect(events).toEqual(['reset']);
  });

  it('ignores and logs other codes and other offsets; reads 0', () => {
    const { device, events, messages } = setup();
    device.write(0, 0x1234n, 4);
    device.write(4, 0x5555n, 4);
    expect(events).toEqual([]);
    expect(messages).toHaveLength(2);
    expect(device.read(0, 4)).toBe(0n);
  });

  it('accepts 16- and 32-bit accesses on the bus, not bytes', () => {
    const { device, events } = setup();
    const bus = new Bus(new GuestErrorLog(() => {}));
    bus.map('test', 0x10_0000, 0x1000, device);
    bus.write(0x10_0000, 0x55n, 1);
    bus.write(0x10_0000, 0x5555n, 2);
    expect(events).toEqual(['off 0']);
  });
});
