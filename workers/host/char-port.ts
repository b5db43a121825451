/**
 * Character ports: how a serial device reaches the host (STYLE.md habit 10). The UART pushes every
 * transmitted byte into a CharSink; the host side (console rings, a test's buffer) decides where it
 * goes. Input travels the other way through the device's own receive()/rxSpace(), so that a full
 * receive FIFO leaves the byte with the host instead of dropping it.
 */
export interface CharSink {
  /** One byte (0..255) the guest transmitted. Must not block. */
  write(byte: number): void;
}
