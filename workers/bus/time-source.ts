/**
 * What a timed device (CLINT, RTC, UART character timeout) needs of guest time. The machine's
 * GuestClock (workers/machine/clock.ts) implements it; devices depend on this interface only, so that
 * workers/devices imports nothing but workers/bus (STYLE.md layout table).
 */
export interface GuestTimeSource {
  /** Guest time in ticks of TIMEBASE_FREQUENCY (the CLINT's mtime). */
  ticks(): bigint;
  /** Sets guest time (a guest write to mtime, a snapshot restore); time continues from `ticks`. */
  setTicks(ticks: bigint): void;
}
