import { describe, expect, it } from 'vitest';
import { GuestErrorLog } from '../bus/guest-log.ts';
import { GuestClock } from '../machine/clock.ts';
import { FakeHostTime, RecordingIrqLine, throughJson } from './test-support.ts';
import { Uart16550 } from './uart16550.ts';

// Register offsets and bits written out from the PC16550D datasheet.
const RBR = 0;
const THR = 0;
const DLL = 0;
const IER = 1;
const DLM = 1;
const IIR = 2;
const FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;
const IIR_NONE = 0x01;
const IIR_MODEM = 0x00;
const IIR_THRE = 0x02;
const IIR_RDA = 0x04;
const IIR_LINE = 0x06;
const IIR_TIMEOUT = 0x0c;
const IIR_FIFOS = 0xc0;
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

function setup() {
  const host = new FakeHostTime();
  const clock = new GuestClock(host.now);
  clock.resume();
  const irq = new RecordingIrqLine();
  const sent: number[] = [];
  const messages: string[] = [];
  const uart = new Uart16550({
    irq,
    sink: { write: (b) => sent.push(b) },
    clock,
    log: new GuestErrorLog((m) => messages.push(m)),
  });
  const read = (offset: number): number => Number(uart.read(offset, 1));
  const write = (offset: number, value: number): void => uart.write(offset, BigInt(value), 1);
  return { host, clock, irq, sent, messages, uart, read, write };
}

/** 115200 baud from the 3.6864 MHz clock (divisor 2), 8 data bits, no parity, 1 stop bit. */
function program115200(write: (offset: number, value: number) => void): void {
  write(LCR, 0x80);
  write(DLL, 2);
  write(DLM, 0);
  write(LCR, 0x03);
}

describe('16550 UART', () => {
  it('resets to an idle, empty transmitter with no interrupt', () => {
    const { read, irq } = setup();
    expect(read(IER)).toBe(0);
    expect(read(IIR)).toBe(IIR_NONE);
    expect(read(LCR)).toBe(0);
    expect(read(MCR)).toBe(0);
    expect(read(LSR)).toBe(LSR_THRE | LSR_TEMT);
    expect(read(MSR)).toBe(0xb0); // DCD, DSR, CTS asserted, no deltas
    expect(irq.level).toBe(false);
  });

  it('transmits every THR byte to the sink and stays empty', () => {
    const { write, read, sent } = setup();
    for (const b of [0x68, 0x69, 0x0a]) write(THR, b);
    expect(sent).toEqual([0x68, 0x69, 0x0a]);
    expect(read(LSR) & (LSR_THRE | LSR_TEMT)).toBe(LSR_THRE | LSR_TEMT);
  });

  it('routes offsets 0 and 1 to the divisor latch while DLAB is set', () => {
    const { write, read, sent } = setup();
    write(IER, 0x05);
    write(LCR, 0x83);
    write(DLL, 0x34);
    write(DLM, 0x12);
    expect(read(DLL)).toBe(0x34);
    expect(read(DLM)).toBe(0x12);
    expect(sent).toEqual([]);
    write(LCR, 0x03);
    expect(read(IER)).toBe(0x05);
    expect(read(LCR)).toBe(0x03);
  });

  it('keeps the scratch register', () => {
    const { write, read } = setup();
    write(SCR, 0xa5);
    expect(read(SCR)).toBe(0xa5);
  });

  it('without FIFOs holds one received byte and refuses the next', () => {
    const { uart, read } = setup();
    expect(uart.rxSpace()).toBe(1);
    expect(uart.receive(0x41)).toBe(true);
    expect(uart.rxSpace()).toBe(0);
    expect(uart.receive(0x42)).toBe(false);
    expect(read(LSR) & LSR_DR).toBe(LSR_DR);
    expect(read(RBR)).toBe(0x41);
    expect(read(LSR) & LSR_DR).toBe(0);
    expect(uart.receive(0x42)).toBe(true);
    expect(read(RBR)).toBe(0x42);
  });

  it('raises the received-data interrupt when enabled and drops it when the byte is read', () => {
    const { uart, write, read, irq } = setup();
    write(IER, 0x01);
    uart.receive(0x7a);
    expect(irq.level).toBe(true);
    expect(read(IIR)).toBe(IIR_RDA);
    expect(read(RBR)).toBe(0x7a);
    expect(irq.level).toBe(false);
    expect(read(IIR)).toBe(IIR_NONE);
  });

  it('has 16-byte FIFOs once FCR enables them', () => {
    const { uart, write, read } = setup();
    write(FCR, 0x01);
    expect(read(IIR)).toBe(IIR_FIFOS | IIR_NONE);
    expect(uart.rxSpace()).toBe(16);
    for (let i = 0; i < 16; i++) expect(uart.receive(0x30 + i)).toBe(true);
    expect(uart.receive(0x99)).toBe(false);
    const got = Array.from({ length: 16 }, () => read(RBR));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => 0x30 + i));
    expect(read(LSR) & LSR_DR).toBe(0);
  });

  it('signals received data only at the FIFO trigger level', () => {
    const { uart, write, read, irq } = setup();
    write(FCR, 0x81); // trigger level 8
    write(IER, 0x01);
    for (let i = 0; i < 7; i++) uart.receive(i);
    expect(irq.level).toBe(false);
    uart.receive(7);
    expect(irq.level).toBe(true);
    expect(read(IIR)).toBe(IIR_FIFOS | IIR_RDA);
    read(RBR); // 7 left, below the trigger level
    expect(irq.level).toBe(false);
  });

  it('raises the character timeout after four character times without FIFO activity', () => {
    const { uart, write, read, irq, host } = setup();
    program115200(write);
    write(FCR, 0xc1); // trigger level 14
    write(IER, 0x01);
    uart.receive(0x61);
    // One 10-bit character at 115200 baud takes 86.8 µs = 868 ticks; four take about 3472 ticks.
    const deadline = uart.nextDeadline();
    expect(deadline).not.toBeNull();
    expect(Number(deadline)).toBeGreaterThanOrEqual(3472);
    expect(Number(deadline)).toBeLessThan(3490);
    host.ms = 0.34;
    uart.update();
    expect(irq.level).toBe(false);
    host.ms = 0.35;
    uart.update();
    expect(irq.level).toBe(true);
    expect(read(IIR)).toBe(IIR_FIFOS | IIR_TIMEOUT);
    // Reading a character clears the timeout interrupt.
    expect(read(RBR)).toBe(0x61);
    expect(irq.level).toBe(false);
    expect(uart.nextDeadline()).toBeNull();
  });

  it('restarts the timeout on every received byte', () => {
    const { uart, write, irq, host } = setup();
    program115200(write);
    write(FCR, 0xc1);
    write(IER, 0x01);
    uart.receive(1);
    host.ms = 0.3;
    uart.receive(2); // restarts the four-character window: now due near 0.6476 ms
    host.ms = 0.5; // past the first byte's deadline
    uart.update();
    expect(irq.level).toBe(false);
    host.ms = 0.66;
    uart.update();
    expect(irq.level).toBe(true);
  });

  it('keeps the timeout interrupt masked while IER.RDI is off', () => {
    const { uart, write, irq, host } = setup();
    program115200(write);
    write(FCR, 0xc1);
    uart.receive(1);
    host.ms = 1;
    uart.update();
    expect(irq.level).toBe(false);
    write(IER, 0x01);
    expect(irq.level).toBe(true);
  });

  it('THRE interrupt: raised by enabling it with THR empty, cleared by reading IIR, re-raised by a THR write', () => {
    const { write, read, irq } = setup();
    write(IER, 0x02);
    expect(irq.level).toBe(true);
    expect(read(IIR)).toBe(IIR_THRE);
    expect(irq.level).toBe(false);
    expect(read(IIR)).toBe(IIR_NONE);
    write(THR, 0x21);
    expect(irq.level).toBe(true);
    // Linux's startup test: toggling IER.THRI off and on must reassert it.
    read(IIR);
    write(IER, 0x00);
    write(IER, 0x02);
    expect(read(IIR)).toBe(IIR_THRE);
    write(IER, 0x02); // no 0→1 edge: stays cleared
    expect(read(IIR)).toBe(IIR_NONE);
    write(THR, 0x22);
    write(IER, 0x00); // disabling drops it
    expect(irq.level).toBe(false);
  });

  it('reading IIR does not clear a THRE interrupt hidden behind a higher-priority one', () => {
    const { uart, write, read } = setup();
    write(IER, 0x03);
    uart.receive(0x55);
    expect(read(IIR)).toBe(IIR_RDA);
    read(RBR);
    expect(read(IIR)).toBe(IIR_THRE);
  });

  it('loops transmitted bytes back to the receiver and the modem outputs to the inputs', () => {
    const { uart, write, read, sent } = setup();
    write(MCR, 0x10 | 0x0a); // LOOP | RTS | OUT2, Linux's autoconfig loopback test
    expect(read(MSR) & 0xf0).toBe(0x90); // CTS | DCD
    write(MCR, 0x10 | 0x05); // LOOP | DTR | OUT1
    expect(read(MSR) & 0xf0).toBe(0x60); // DSR | RI
    write(THR, 0x5a);
    expect(sent).toEqual([]);
    expect(read(LSR) & LSR_DR).toBe(LSR_DR);
    expect(read(RBR)).toBe(0x5a);
    // The external input is disconnected in loopback.
    expect(uart.rxSpace()).toBe(0);
    expect(uart.receive(0x31)).toBe(false);
    write(MCR, 0);
    expect(uart.receive(0x31)).toBe(true);
  });

  it('reports loopback overruns as OE, cleared by reading LSR', () => {
    const { write, read } = setup();
    write(FCR, 0x01);
    write(MCR, 0x10);
    for (let i = 0; i < 17; i++) write(THR, i);
    const lsr = read(LSR);
    expect(lsr & (LSR_OE | LSR_DR)).toBe(LSR_OE | LSR_DR);
    expect(read(LSR) & LSR_OE).toBe(0);
    const got = Array.from({ length: 16 }, () => read(RBR));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i)); // the 17th was lost, not the FIFO
  });

  it('identifies interrupts by priority: line status, data, THR empty, modem status', () => {
    const { write, read, irq } = setup();
    write(IER, 0x0f);
    write(MCR, 0x10); // loopback: CTS, DSR, DCD fall, which records modem deltas
    write(THR, 1);
    write(THR, 2); // overrun of the one-byte holding register
    expect(read(IIR)).toBe(IIR_LINE);
    read(LSR);
    expect(read(IIR)).toBe(IIR_RDA);
    expect(read(RBR)).toBe(2); // without FIFOs the overrun overwrote the holding register
    expect(read(IIR)).toBe(IIR_THRE); // this read clears it
    expect(read(IIR)).toBe(IIR_MODEM);
    expect(read(MSR) & 0x0f).toBe(0x0b); // DCTS, DDSR, DDCD
    expect(read(IIR)).toBe(IIR_NONE);
    expect(irq.level).toBe(false);
  });

  it('clears the receive FIFO on FCR request and when the FIFOs are switched off', () => {
    const { uart, write, read } = setup();
    write(FCR, 0x01);
    uart.receive(1);
    uart.receive(2);
    write(FCR, 0x03);
    expect(read(LSR) & LSR_DR).toBe(0);
    uart.receive(3);
    write(FCR, 0x00);
    expect(read(LSR) & LSR_DR).toBe(0);
    expect(read(IIR)).toBe(IIR_NONE);
    expect(uart.rxSpace()).toBe(1);
  });

  it("declares QEMU serial_mm's widths (1 to 8 bytes, each the one byte register) and logs absent registers", () => {
    const { uart, messages } = setup();
    expect(uart.accessSizes).toEqual([1, 2, 4, 8]);
    expect(uart.read(LSR, 4)).toBe(uart.read(LSR, 1));
    expect(uart.read(8, 1)).toBe(0n);
    uart.write(0x10, 1n, 1);
    uart.write(LSR, 0n, 1);
    expect(messages).toHaveLength(3);
  });

  it('restores a pending character timeout interrupt', () => {
    const a = setup();
    program115200(a.write);
    a.write(FCR, 0xc1);
    a.write(IER, 0x01);
    a.uart.receive(0x33);
    a.host.ms = 1;
    a.uart.update();
    expect(a.irq.level).toBe(true);
    const b = setup();
    b.clock.loadState(throughJson(a.clock.saveState()));
    b.uart.loadState(throughJson(a.uart.saveState()));
    expect(b.irq.level).toBe(true);
    expect(b.read(IIR)).toBe(IIR_FIFOS | IIR_TIMEOUT);
    expect(b.read(RBR)).toBe(0x33);
    expect(b.irq.level).toBe(false);
  });

  it('saves and restores through JSON into a UART that behaves identically', () => {
    const a = setup();
    program115200(a.write);
    a.write(FCR, 0x81);
    a.write(IER, 0x03);
    a.write(SCR, 0x77);
    a.write(MCR, 0x0b);
    for (const b of [10, 11, 12]) a.uart.receive(b);
    a.host.ms = 0.1;

    const b = setup();
    b.host.ms = 0.1;
    b.clock.loadState(throughJson(a.clock.saveState()));
    b.uart.loadState(throughJson(a.uart.saveState()));
    expect(b.irq.level).toBe(a.irq.level);
    expect(b.irq.level).toBe(true); // the THRE interrupt survived
    expect(b.uart.nextDeadline()).toBe(a.uart.nextDeadline());
    expect(b.uart.rxSpace()).toBe(a.uart.rxSpace());

    const script = (u: ReturnType<typeof setup>): number[] => {
      const out = [u.read(IIR), u.read(LCR), u.read(MCR), u.read(SCR), u.read(LSR)];
      u.host.ms = 1; // past the character timeout
      u.uart.update();
      out.push(u.read(IIR), u.read(RBR), u.read(RBR), u.read(RBR), u.read(LSR), u.read(IIR));
      u.write(LCR, 0x83);
      out.push(u.read(DLL), u.read(DLM));
      return out;
    };
    const fromA = script(a);
    expect(fromA).toEqual([
      IIR_FIFOS | IIR_THRE,
      0x03,
      0x0b,
      0x77,
      LSR_DR | LSR_THRE | LSR_TEMT,
      IIR_FIFOS | IIR_TIMEOUT,
      10,
      11,
      12,
      LSR_THRE | LSR_TEMT,
      IIR_FIFOS | IIR_NONE,
      2,
      0,
    ]);
    expect(script(b)).toEqual(fromA);
    expect(() => b.uart.loadState({ ...a.uart.saveState(), v: 2 as 1 })).toThrow(/version/);
  });
});
