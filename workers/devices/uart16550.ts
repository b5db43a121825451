/**
 * An NS16550A UART as QEMU's virt board has it (compatible "ns16550a", reg-shift 0, reg-io-width 1),
 * following the TI/National PC16550D datasheet. Register names are Linux's (include/uapi/linux/
 * serial_reg.h), which OpenSBI and the kernel's 8250 driver use.
 *
 *   0 RBR (read) / THR (write) / DLL (DLAB=1)     4 MCR
 *   1 IER / DLM (DLAB=1)                          5 LSR
 *   2 IIR (read) / FCR (write)                    6 MSR
 *   3 LCR                                         7 SCR
 *
 * Only 1-byte accesses: the device tree has no reg-io-width, so Linux's 8250 driver (UPIO_MEM) and
 * OpenSBI's uart8250 both use byte loads and stores; the bus logs anything wider.
 *
 * Transmission is instantaneous: a byte written to THR goes to the CharSink (or, in loopback, to the
 * receiver) at once, so THR and the transmitter are always empty (LSR_THRE and LSR_TEMT stay set) and
 * every THR write is followed by a fresh "THR empty" interrupt. Receiving has a real 16-byte FIFO with
 * the trigger level and the character timeout interrupt; the timeout is measured in guest time, four
 * character times at the programmed baud rate (datasheet: "no characters have been removed from or
 * input to the RCVR FIFO during the last 4 character times"), hence update() and nextDeadline().
 */
import type { AccessSize, IrqLine, MmioDevice } from '../bus/device.ts';
import { GuestErrorLog, hex } from '../bus/guest-log.ts';
import type { GuestTimeSource } from '../bus/time-source.ts';
import type { CharSink } from '../host/char-port.ts';

/** The input clock of QEMU virt's UART (its device tree's clock-frequency): 16 × 230400 baud. */
export const UART_CLOCK_FREQUENCY = 3_686_400;
export const UART_FIFO_SIZE = 16;

// Register offsets.
export const UART_RBR = 0; // receive buffer (read)
export const UART_THR = 0; // transmit holding (write)
export const UART_DLL = 0; // divisor latch low (DLAB = 1)
export const UART_IER = 1;
export const UART_DLM = 1; // divisor latch high (DLAB = 1)
export const UART_IIR = 2; // (read)
export const UART_FCR = 2; // (write)
export const UART_LCR = 3;
export const UART_MCR = 4;
export const UART_LSR = 5;
export const UART_MSR = 6;
export const UART_SCR = 7;

// IER (datasheet names: ERBFI, ETBEI, ELSI, EDSSI).
export const UART_IER_RDI = 0x01; // received data available, and the FIFO character timeout
export const UART_IER_THRI = 0x02; // transmitter holding register empty
export const UART_IER_RLSI = 0x04; // receiver line status
export const UART_IER_MSI = 0x08; // modem status

// IIR: the identification of the highest-priority pending interrupt.
export const UART_IIR_NO_INT = 0x01;
export const UART_IIR_MSI = 0x00;
export const UART_IIR_THRI = 0x02;
export const UART_IIR_RDI = 0x04;
export const UART_IIR_RLSI = 0x06;
export const UART_IIR_RX_TIMEOUT = 0x0c;
export const UART_IIR_FIFO_ENABLED = 0xc0;

// FCR.
export const UART_FCR_ENABLE_FIFO = 0x01;
export const UART_FCR_CLEAR_RCVR = 0x02;
export const UART_FCR_CLEAR_XMIT = 0x04;
export const UART_FCR_DMA_SELECT = 0x08;
export const UART_FCR_TRIGGER_MASK = 0xc0;

// LCR.
export const UART_LCR_WLEN_MASK = 0x03; // word length − 5
export const UART_LCR_STOP = 0x04; // 2 stop bits (1.5 with 5-bit words)
export const UART_LCR_PARITY = 0x08;
export const UART_LCR_DLAB = 0x80;

// MCR.
export const UART_MCR_DTR = 0x01;
export const UART_MCR_RTS = 0x02;
export const UART_MCR_OUT1 = 0x04;
export const UART_MCR_OUT2 = 0x08;
export const UART_MCR_LOOP = 0x10;

// LSR.
export const UART_LSR_DR = 0x01;
export const UART_LSR_OE = 0x02;
export const UART_LSR_PE = 0x04;
export const UART_LSR_FE = 0x08;
export const UART_LSR_BI = 0x10;
export const UART_LSR_THRE = 0x20;
export const UART_LSR_TEMT = 0x40;
export const UART_LSR_BRK_ERROR_BITS = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;

// MSR.
export const UART_MSR_DCTS = 0x01;
export const UART_MSR_DDSR = 0x02;
export const UART_MSR_TERI = 0x04;
export const UART_MSR_DDCD = 0x08;
export const UART_MSR_CTS = 0x10;
export const UART_MSR_DSR = 0x20;
export const UART_MSR_RI = 0x40;
export const UART_MSR_DCD = 0x80;

/** RX trigger levels selected by FCR bits 7:6. */
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;
/** No modem is attached: carrier, data set ready and clear to send are asserted (as in QEMU). */
const EXTERNAL_MODEM_INPUTS = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
/** Before the guest programs a divisor, time characters at 9600 baud. */
const DEFAULT_BAUD = 9600;

export interface Uart16550Options {
  readonly irq: IrqLine;
  readonly sink: CharSink;
  /** Guest time, for the receive FIFO's character timeout. */
  readonly clock: GuestTimeSource;
  readonly log?: GuestErrorLog;
}

export interface Uart16550State {
  v: 1;
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  /** The divisor latch, DLM << 8 | DLL. */
  divisor: number;
  /** FCR as last programmed: UART_FCR_ENABLE_FIFO, UART_FCR_DMA_SELECT and the trigger bits. */
  fcr: number;
  /** Received bytes not yet read, oldest first. */
  rxFifo: number[];
  /** LSR error bits (OE, PE, FE, BI) not yet cleared by an LSR read. */
  lineErrors: number;
  /** MSR delta bits (DCTS, DDSR, TERI, DDCD) not yet cleared by an MSR read. */
  modemDeltas: number;
  thrEmptyInterrupt: boolean;
  timeoutInterrupt: boolean;
  /** Guest tick at which the character timeout fires, decimal, or null when not armed. */
  timeoutDeadline: string | null;
}

export class Uart16550 implements MmioDevice {
  /** QEMU's serial_mm accepts 1 to 8 bytes; a wider access reads or writes the one byte register. */
  readonly accessSizes: readonly AccessSize[] = [1, 2, 4, 8];
  readonly #irq: IrqLine;
  readonly #sink: CharSink;
  readonly #clock: GuestTimeSource;
  readonly #log: GuestErrorLog;

  #ier = 0;
  #lcr = 0;
  #mcr = 0;
  #scr = 0;
  #divisor = 0;
  #fcr = 0;
  #rx: number[] = [];
  #lineErrors = 0;
  #modemDeltas = 0;
  /** The THR-empty interrupt condition; only kept while UART_IER_THRI is set. */
  #thrEmptyInterrupt = false;
  #timeoutInterrupt = false;
  #timeoutDeadline: bigint | null = null;
  #irqLevel = false;

  constructor(options: Uart16550Options) {
    this.#irq = options.irq;
    this.#sink = options.sink;
    this.#clock = options.clock;
    this.#log = options.log ?? new GuestErrorLog();
    this.#irq.set(false);
  }

  read(offset: number, _size: AccessSize): bigint {
    switch (offset) {
      case UART_RBR:
        return BigInt(this.#dlab ? this.#divisor & 0xff : this.#readRbr());
      case UART_IER:
        return BigInt(this.#dlab ? this.#divisor >>> 8 : this.#ier);
      case UART_IIR:
        return BigInt(this.#readIir());
      case UART_LCR:
        return BigInt(this.#lcr);
      case UART_MCR:
        return BigInt(this.#mcr);
      case UART_LSR:
        return BigInt(this.#readLsr());
      case UART_MSR:
        return BigInt(this.#readMsr());
      case UART_SCR:
        return BigInt(this.#scr);
      default:
        this.#log.once(`read ${hex(offset)}`, `UART: read of absent register ${hex(offset)}`);
        return 0n;
    }
  }

  write(offset: number, value: bigint, _size: AccessSize): void {
    const byte = Number(value & 0xffn);
    switch (offset) {
      case UART_THR:
        if (this.#dlab) this.#divisor = (this.#divisor & 0xff00) | byte;
        else this.#transmit(byte);
        return;
      case UART_IER:
        if (this.#dlab) this.#divisor = (this.#divisor & 0x00ff) | (byte << 8);
        else this.#writeIer(byte);
        return;
      case UART_FCR:
        this.#writeFcr(byte);
        return;
      case UART_LCR:
        this.#lcr = byte;
        return;
      case UART_MCR:
        this.#writeMcr(byte);
        return;
      case UART_LSR:
      case UART_MSR:
        // Read-only status registers (the datasheet's factory test writes are not modelled).
        this.#log.once(`write ${hex(offset)}`, `UART: write to read-only register ${hex(offset)}`);
        return;
      case UART_SCR:
        this.#scr = byte;
        return;
      default:
        this.#log.once(`write ${hex(offset)}`, `UART: write to absent register ${hex(offset)}`);
    }
  }

  /**
   * Offers one byte from the host to the receiver. Returns false, and takes nothing, when the
   * receiver has no room (or is in loopback, where the external input is disconnected): the host
   * keeps the byte and offers it again later, so typing ahead never loses characters.
   */
  receive(byte: number): boolean {
    if (this.rxSpace() === 0) return false;
    this.#rx.push(byte & 0xff);
    this.#restartTimeout();
    this.#updateIrq();
    return true;
  }

  /** How many bytes receive() would accept now. */
  rxSpace(): number {
    if (this.#mcr & UART_MCR_LOOP) return 0;
    return this.#rxCapacity - this.#rx.length;
  }

  /** Fires the receive character timeout if it is due. Call between instruction slices. */
  update(): void {
    this.#checkTimeout();
    this.#updateIrq();
  }

  /** The guest tick at which update() has something to do, or null. */
  nextDeadline(): bigint | null {
    return this.#timeoutDeadline;
  }

  saveState(): Uart16550State {
    return {
      v: 1,
      ier: this.#ier,
      lcr: this.#lcr,
      mcr: this.#mcr,
      scr: this.#scr,
      divisor: this.#divisor,
      fcr: this.#fcr,
      rxFifo: [...this.#rx],
      lineErrors: this.#lineErrors,
      modemDeltas: this.#modemDeltas,
      thrEmptyInterrupt: this.#thrEmptyInterrupt,
      timeoutInterrupt: this.#timeoutInterrupt,
      timeoutDeadline: this.#timeoutDeadline === null ? null : this.#timeoutDeadline.toString(),
    };
  }

  /** Restores every register and re-drives the interrupt line. */
  loadState(state: Uart16550State): void {
    if (state.v !== 1) throw new Error(`uart16550: unknown state version ${String(state.v)}`);
    const capacity = state.fcr & UART_FCR_ENABLE_FIFO ? UART_FIFO_SIZE : 1;
    if (state.rxFifo.length > capacity) throw new Error(`uart16550: state holds ${state.rxFifo.length} received bytes`);
    this.#ier = state.ier & 0x0f;
    this.#lcr = state.lcr & 0xff;
    this.#mcr = state.mcr & 0x1f;
    this.#scr = state.scr & 0xff;
    this.#divisor = state.divisor & 0xffff;
    this.#fcr = state.fcr & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
    this.#rx = state.rxFifo.map((b) => b & 0xff);
    this.#lineErrors = state.lineErrors & UART_LSR_BRK_ERROR_BITS;
    this.#modemDeltas = state.modemDeltas & 0x0f;
    this.#thrEmptyInterrupt = state.thrEmptyInterrupt;
    this.#timeoutInterrupt = state.timeoutInterrupt;
    this.#timeoutDeadline = state.timeoutDeadline === null ? null : BigInt(state.timeoutDeadline);
    this.#irqLevel = this.#interruptId() !== UART_IIR_NO_INT;
    this.#irq.set(this.#irqLevel);
  }

  get #dlab(): boolean {
    return (this.#lcr & UART_LCR_DLAB) !== 0;
  }

  get #fifoEnabled(): boolean {
    return (this.#fcr & UART_FCR_ENABLE_FIFO) !== 0;
  }

  /** Without FIFOs the receiver holds one character (the RBR). */
  get #rxCapacity(): number {
    return this.#fifoEnabled ? UART_FIFO_SIZE : 1;
  }

  #readRbr(): number {
    const byte = this.#rx.shift() ?? 0;
    // Reading a character resets the timeout and clears a pending timeout interrupt.
    this.#timeoutInterrupt = false;
    if (this.#rx.length > 0) this.#restartTimeout();
    else this.#timeoutDeadline = null;
    this.#updateIrq();
    return byte;
  }

  #readIir(): number {
    this.#checkTimeout();
    const id = this.#interruptId();
    // Datasheet table 4: the THRE interrupt is reset by "reading the IIR register (if source of
    // interrupt)" or by writing THR.
    if (id === UART_IIR_THRI) this.#thrEmptyInterrupt = false;
    this.#updateIrq();
    return id | (this.#fifoEnabled ? UART_IIR_FIFO_ENABLED : 0);
  }

  #readLsr(): number {
    let lsr = this.#lineErrors | UART_LSR_THRE | UART_LSR_TEMT;
    if (this.#rx.length > 0) lsr |= UART_LSR_DR;
    // The error bits report an event once: an LSR read clears them (and the line status interrupt).
    if (this.#lineErrors !== 0) {
      this.#lineErrors = 0;
      this.#updateIrq();
    }
    return lsr;
  }

  #readMsr(): number {
    const msr = this.#modemInputs() | this.#modemDeltas;
    if (this.#modemDeltas !== 0) {
      this.#modemDeltas = 0;
      this.#updateIrq();
    }
    return msr;
  }

  #transmit(byte: number): void {
    if (this.#mcr & UART_MCR_LOOP) this.#loopBack(byte);
    else this.#sink.write(byte);
    // The byte left at once, so THR is empty again: a new THRE interrupt (the write cleared the old).
    this.#thrEmptyInterrupt = (this.#ier & UART_IER_THRI) !== 0;
    this.#updateIrq();
  }

  /** In loopback the transmitter feeds the receiver; an overrun behaves as on the line. */
  #loopBack(byte: number): void {
    if (this.#rx.length < this.#rxCapacity) {
      this.#rx.push(byte);
    } else {
      // Datasheet: with FIFOs, an overrun character replaces nothing in the FIFO; without, the new
      // character overwrites the RBR.
      this.#lineErrors |= UART_LSR_OE;
      if (!this.#fifoEnabled) this.#rx[0] = byte;
    }
    this.#restartTimeout();
  }

  #writeIer(value: number): void {
    const ier = value & 0x0f;
    const changed = this.#ier ^ ier;
    this.#ier = ier;
    // Enabling the THRE interrupt while THR is empty (it always is) raises it at once; Linux's 8250
    // driver starts transmission this way and its startup test checks that it is reasserted each
    // time the bit goes from 0 to 1 (otherwise it flags the port with UART_BUG_THRE).
    if (changed & UART_IER_THRI) this.#thrEmptyInterrupt = (ier & UART_IER_THRI) !== 0;
    this.#updateIrq();
  }

  #writeFcr(value: number): void {
    const enable = (value & UART_FCR_ENABLE_FIFO) !== 0;
    if (enable !== this.#fifoEnabled) {
      // Changing the FIFO enable clears both FIFOs (datasheet, FCR bit 0).
      this.#resetReceiver();
    }
    if (!enable) {
      // "FCR0 must be a 1 when other FCR bits are written to or they will not be programmed."
      this.#fcr = 0;
    } else {
      this.#fcr = value & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
      if (value & UART_FCR_CLEAR_RCVR) this.#resetReceiver();
      // Clearing the (always empty) transmit FIFO empties THR: a THRE interrupt, as in QEMU.
      if (value & UART_FCR_CLEAR_XMIT && this.#ier & UART_IER_THRI) this.#thrEmptyInterrupt = true;
    }
    this.#updateIrq();
  }

  #resetReceiver(): void {
    this.#rx = [];
    this.#timeoutInterrupt = false;
    this.#timeoutDeadline = null;
  }

  #writeMcr(value: number): void {
    const before = this.#modemInputs();
    this.#mcr = value & 0x1f;
    const after = this.#modemInputs();
    // Datasheet, MCR bit 4: in loopback "the modem control interrupts are also operational, but the
    // interrupts' sources are now the lower four bits of the MCR". Delta bits record input changes;
    // TERI only the trailing edge of RI.
    const changed = before ^ after;
    if (changed & UART_MSR_CTS) this.#modemDeltas |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR) this.#modemDeltas |= UART_MSR_DDSR;
    if (before & UART_MSR_RI && !(after & UART_MSR_RI)) this.#modemDeltas |= UART_MSR_TERI;
    if (changed & UART_MSR_DCD) this.#modemDeltas |= UART_MSR_DDCD;
    this.#updateIrq();
  }

  /** The MSR's upper nibble: in loopback, DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD. */
  #modemInputs(): number {
    const mcr = this.#mcr;
    if (!(mcr & UART_MCR_LOOP)) return EXTERNAL_MODEM_INPUTS;
    return (
      (mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
      (mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
      (mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
      (mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0)
    );
  }

  /** Datasheet table 4, highest priority first. The timeout shares the data-available level. */
  #interruptId(): number {
    const ier = this.#ier;
    if (ier & UART_IER_RLSI && this.#lineErrors !== 0) return UART_IIR_RLSI;
    if (ier & UART_IER_RDI) {
      if (this.#timeoutInterrupt) return UART_IIR_RX_TIMEOUT;
      const level = this.#fifoEnabled ? TRIGGER_LEVELS[this.#fcr >>> 6]! : 1;
      if (this.#rx.length >= level) return UART_IIR_RDI;
    }
    if (ier & UART_IER_THRI && this.#thrEmptyInterrupt) return UART_IIR_THRI;
    if (ier & UART_IER_MSI && this.#modemDeltas !== 0) return UART_IIR_MSI;
    return UART_IIR_NO_INT;
  }

  #updateIrq(): void {
    const level = this.#interruptId() !== UART_IIR_NO_INT;
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    this.#irq.set(level);
  }

  /** Arms the character timeout 4 character times from now (FIFO mode only). */
  #restartTimeout(): void {
    if (!this.#fifoEnabled) return;
    this.#timeoutDeadline = this.#clock.ticks() + BigInt(4 * this.#characterTicks());
  }

  #checkTimeout(): void {
    if (this.#timeoutDeadline === null || this.#clock.ticks() < this.#timeoutDeadline) return;
    this.#timeoutDeadline = null;
    if (this.#rx.length > 0) this.#timeoutInterrupt = true;
  }

  /** Guest ticks one character takes on the line at the programmed baud rate and frame format. */
  #characterTicks(): number {
    const dataBits = 5 + (this.#lcr & UART_LCR_WLEN_MASK);
    const stopBits = this.#lcr & UART_LCR_STOP ? (dataBits === 5 ? 1.5 : 2) : 1;
    const frameBits = 1 + dataBits + (this.#lcr & UART_LCR_PARITY ? 1 : 0) + stopBits;
    const baud = this.#divisor === 0 ? DEFAULT_BAUD : UART_CLOCK_FREQUENCY / (16 * this.#divisor);
    return Math.ceil((frameBits * this.#clock.frequency) / baud);
  }
}
