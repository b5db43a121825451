// The platform devices wired as the virt board wires them, from the one hardware table: they all fit
// on one bus without overlap, and a device's interrupt reaches a hart through the PLIC.
import { describe, expect, it } from 'vitest';
import { Bus } from '../bus/bus.ts';
import { GuestErrorLog } from '../bus/guest-log.ts';
import { GuestClock } from '../machine/clock.ts';
import { IRQ, MEMORY_MAP, PLIC_NUM_SOURCES, VIRTIO_MMIO_SLOTS } from '../machine/memory-map.ts';
import { Clint } from './clint.ts';
import { GoldfishRtc } from './goldfish-rtc.ts';
import { Plic } from './plic.ts';
import { SifiveTest } from './sifive-test.ts';
import { FakeHostTime, RecordingIrqLine } from './test-support.ts';
import { Uart16550 } from './uart16550.ts';
import { VirtioMmioTransport } from './virtio/mmio.ts';

function virtBoard() {
  const host = new FakeHostTime();
  const clock = new GuestClock(host.now);
  clock.resume();
  const messages: string[] = [];
  const log = new GuestErrorLog((m) => messages.push(m));
  const hart = {
    msip: new RecordingIrqLine(),
    mtip: new RecordingIrqLine(),
    meip: new RecordingIrqLine(),
    seip: new RecordingIrqLine(),
  };
  const plic = new Plic([hart], { sources: PLIC_NUM_SOURCES, regionSize: MEMORY_MAP.plic.size }, log.scope('plic'));
  const sent: number[] = [];
  const uart = new Uart16550({
    irq: plic.irqLine(IRQ.uart0),
    sink: { write: (b) => sent.push(b) },
    clock,
    log: log.scope('uart0'),
  });
  const bus = new Bus(log);
  const m = MEMORY_MAP;
  bus.map('sifive-test', m.sifiveTest.base, m.sifiveTest.size, new SifiveTest({ powerOff: () => {}, reset: () => {} }));
  bus.map('rtc', m.rtc.base, m.rtc.size, new GoldfishRtc({ clock, irq: plic.irqLine(IRQ.rtc), wallClockMs: 0 }));
  bus.map('clint', m.clint.base, m.clint.size, new Clint(clock, [hart]));
  bus.map('plic', m.plic.base, m.plic.size, plic);
  bus.map('uart0', m.uart0.base, m.uart0.size, uart);
  for (let slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
    bus.map(`virtio${slot}`, m.virtio.base + slot * m.virtio.size, m.virtio.size, new VirtioMmioTransport());
  }
  return { bus, hart, uart, sent, messages };
}

describe('virt platform devices', () => {
  it("map without overlap at the table's addresses", () => {
    const { bus } = virtBoard();
    expect(bus.regions).toHaveLength(5 + VIRTIO_MMIO_SLOTS);
    expect(bus.read(0x1000_8000, 4)).toBe(0x7472_6976n); // the last virtio slot's magic
    expect(bus.read(0x1000_0005, 1)).toBe(0x60n); // UART LSR
  });

  it("deliver a UART interrupt to the hart's SEIP through the PLIC, and claim/complete it", () => {
    const { bus, hart, uart, sent } = virtBoard();
    const plic = MEMORY_MAP.plic.base;
    const uartBase = MEMORY_MAP.uart0.base;
    bus.write(plic + 4 * IRQ.uart0, 1n, 4); // priority
    bus.write(plic + 0x2080, BigInt(1 << IRQ.uart0), 4); // enable for context 1 (hart 0, S mode)
    bus.write(plic + 0x20_1000, 0n, 4); // threshold 0
    bus.write(uartBase + 1, 1n, 1); // IER: received data
    expect(hart.seip.level).toBe(false);
    uart.receive(0x0d);
    expect(hart.seip.level).toBe(true);
    expect(hart.meip.level).toBe(false);
    expect(bus.read(plic + 0x20_1004, 4)).toBe(BigInt(IRQ.uart0));
    expect(bus.read(uartBase, 1)).toBe(0x0dn);
    bus.write(plic + 0x20_1004, BigInt(IRQ.uart0), 4);
    expect(hart.seip.level).toBe(false);
    bus.write(uartBase, 0x6fn, 1);
    expect(sent).toEqual([0x6f]);
  });
});
