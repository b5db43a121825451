/**
 * The Debian snapshot's clock: a snapshot restored a day after it was taken must show today's date.
 *
 * Guest time (mtime) continues from the capture after a restore, so timers neither fire in a burst nor
 * hang (docs/snapshots.md); Linux's system clock runs on it and so continues from the capture too. What
 * knows today's date is the RTC: a restore of the image's snapshot sets it to the host's wall clock
 * (src/controller/snapshot-restore.ts: rtcAtWallClock), as a real RTC keeps counting while a laptop
 * sleeps. Linux reads the RTC into its system clock only at boot, so the snapshot's shell does it: the
 * line below, typed before the capture, makes bash set the clock from the RTC (sysfs `since_epoch`,
 * whole seconds) before it runs the first command after the restore: PS0 is expanded after a command is
 * read and before it runs (not for an empty line). Its arithmetic `${PS0:0:(…)*0}` expands to nothing
 * and marks, in the shell itself, that the clock was set; the next PROMPT_COMMAND then clears PS0, itself
 * and the mark, so later commands cost nothing. PROMPT_COMMAND leaves `$?` as the command left it.
 */
export const CLOCK_SYNC_LINE =
  `PS0='$(date -s "@$(cat /sys/class/rtc/rtc0/since_epoch)" >/dev/null)\${PS0:0:(tabvm_clock_set=1)*0}'; ` +
  `PROMPT_COMMAND='((tabvm_clock_set)) && { PS0=; PROMPT_COMMAND=; unset tabvm_clock_set; }'`;
