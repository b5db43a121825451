/**
 * What a timed device (CLINT, RTC, UART character timeout) needs of guest time. The machine's
 * GuestClock (workers/machine/clock.ts) implements it; devices depend on this interface only, so that
 * workers/devices imports nothing but workers/bus (STYLE.md layout table).
 */
export interface GuestTimeSource {
  /** Ticks per second: the board's timebase (TIMEBASE_FREQUENCY in workers/machine/memory-map.ts). */
  readonly frequency: number;
  /** Guest time in ticks of `frequency` (the CLINT's mtime). */
  ticks(): bigint;
  /** Sets guest time (a guest write to mtime, a snapshot restore); time continues from `ticks`. */
  setTicks(ticks: bigint): void;
}
