/**
 * The headless runner's exit status (docs/cli.md has the table). The guest's own exit code (a SiFive
 * test FAIL code or a riscv-tests `tohost` code) passes through when it fits in a process exit status;
 * the statuses of the runner itself are 2, 3 and 4.
 */

/** The guest powered off cleanly (or passed), or Ctrl-A X ended the run. */
export const EXIT_OK = 0;
/** Bad input: a file, an option or a snapshot the runner cannot use (one line on stderr). */
export const EXIT_BAD_INPUT = 2;
/** The emulator itself failed (an error in the VM's worker). */
export const EXIT_EMULATOR_ERROR = 3;
/** The guest kernel panicked (stderr says the panic line). */
export const EXIT_GUEST_PANIC = 4;
/** The largest exit status a process can report (POSIX keeps the low 8 bits of exit()'s argument). */
export const EXIT_STATUS_MAX = 255;

/**
 * The exit status for guest exit code `code` (≥ 0): 0 for 0, the code itself up to 255, and 255 above,
 * so that a failing guest never reads as success (a code of 256 would otherwise wrap to 0).
 */
export function guestExitStatus(code: number): number {
  if (code === 0) return EXIT_OK;
  return Number.isInteger(code) && code > 0 && code < EXIT_STATUS_MAX ? code : EXIT_STATUS_MAX;
}
