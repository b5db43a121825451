/** QEMU as the benchmarks and the Debian test run it beside tabvm. */
import { execFileSync } from 'node:child_process';

/** QEMU's `-cpu` with tabvm's ISA, so both machines run the same kernel code paths (no Zbb string functions…). */
export const QEMU_TABVM_CPU =
  'rv64,h=false,zba=false,zbb=false,zbc=false,zbs=false,sstc=false,Zihintpause=false,mvendorid=0,marchid=0,mimpid=0';

export function qemuAvailable(): boolean {
  try {
    execFileSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
