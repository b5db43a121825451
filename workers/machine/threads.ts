/**
 * A machine whose hart runs in another thread than its devices, over one shared VM memory: the device
 * host's thread (serveDeviceHost) and each hart's thread (runHart) find each other only through the
 * memory's shared block (layout.ts): the MMIO mailboxes, the device host's doorbell, each hart's wake
 * word, the machine control word and the guest clock's epoch. docs/harts.md describes the protocol;
 * this is the base the SMP work builds on (today: one hart).
 */
import * as L from '../cpu/layout.ts';
import type { ByteRing } from '../protocol/ring.ts';
import { GuestClock, hostEpochNow } from './clock.ts';
import type { DeviceHost, MachineStatus } from './device-host.ts';
import type { HartRunner } from './hart-runner.ts';
import { MailboxServer, ringDeviceHost } from './mmio-mailbox.ts';
import { MEMORY_MAP } from './memory-map.ts';
import { SLICE_INSTRUCTIONS } from './machine.ts';

/** The longest the device host sleeps with nothing to do, so that a lost wake-up costs at most this. */
const MAX_DEVICE_SLEEP_MS = 50;

/** A GuestClock over the VM memory's shared epoch, the same guest time in every thread that makes one. */
export function sharedGuestClock(memory: WebAssembly.Memory, now: () => number = hostEpochNow): GuestClock {
  return new GuestClock(now, { buffer: memory.buffer, byteOffset: L.SHARED_BLOCK + L.CLOCK_EPOCH });
}

/** The machine control word (layout.ts CONTROL_*): the device host tells the harts to halt or reset. */
function controlWord(memory: WebAssembly.Memory): { words: Int32Array; index: number } {
  return { words: new Int32Array(memory.buffer, L.SHARED_BLOCK, 0x1000 / 4), index: L.MACHINE_CONTROL / 4 };
}

export interface DeviceHostThreadOptions {
  /** Host console input; the sender rings the device host's doorbell (ringDeviceHost) after writing. */
  readonly input?: ByteRing;
  /** Called once per turn of the loop, e.g. to pass the console's output on. */
  readonly onTurn?: () => void;
}

/**
 * The device host's thread: answers the harts' MMIO, keeps timers and interrupt lines current, feeds
 * console input to the UART, and handles the guest's poweroff and reboot, until the machine halts.
 * Sleeps in Atomics.waitAsync between events, so the thread's event loop (block I/O) keeps running.
 * Call with the images loaded and the clock running; the harts may start before or after.
 */
export async function serveDeviceHost(host: DeviceHost, options: DeviceHostThreadOptions = {}): Promise<MachineStatus> {
  const server = new MailboxServer(host.memory, host.pins.length);
  const control = controlWord(host.memory);
  let pending: Uint8Array = new Uint8Array(0);
  for (;;) {
    const seen = server.doorbell;
    server.serve(host.physicalBus);
    host.update();
    if (options.input) {
      if (pending.length === 0) pending = options.input.read();
      pending = pending.subarray(host.receiveInput(pending));
    }
    host.checkTohost();
    options.onTurn?.();
    const status = host.status;
    if (status.kind === 'halted') {
      setControl(control, L.CONTROL_HALT);
      for (const pins of host.pins) pins.kick();
      return status;
    }
    if (host.takeResetRequest()) {
      // The hart stops at the end of its slice and acknowledges; until then it may still need MMIO.
      setControl(control, L.CONTROL_RESET);
      for (const pins of host.pins) pins.kick();
    }
    if (Atomics.load(control.words, control.index) === L.CONTROL_RESET_ACK) {
      host.reboot();
      setControl(control, L.CONTROL_RUN);
    }
    // A byte the UART's full FIFO refused is offered again when the guest reads one: that read is an MMIO
    // request, which rings the doorbell.
    const ms = host.msUntilNextEvent();
    await server.sleep(seen, Math.min(ms ?? MAX_DEVICE_SLEEP_MS, MAX_DEVICE_SLEEP_MS));
  }
}

function setControl(control: { words: Int32Array; index: number }, value: number): void {
  Atomics.store(control.words, control.index, value);
  Atomics.notify(control.words, control.index);
}

/**
 * A hart's thread: runs the hart in slices until the device host halts the machine. Blocks the thread
 * (MMIO round trips, WFI sleeps), so it must run in a worker of its own. On a guest reboot it stops,
 * acknowledges, waits for the device host to load the images again and resets to the boot ROM.
 * Call after the device host loaded the images and `runner` was reset.
 */
export function runHart(runner: HartRunner, memory: WebAssembly.Memory, tohost?: number, budget = SLICE_INSTRUCTIONS): void {
  const control = controlWord(memory);
  for (;;) {
    const state = Atomics.load(control.words, control.index);
    if (state === L.CONTROL_HALT) return;
    if (state === L.CONTROL_RESET) {
      Atomics.store(control.words, control.index, L.CONTROL_RESET_ACK);
      ringDeviceHost(memory);
      while (Atomics.load(control.words, control.index) === L.CONTROL_RESET_ACK)
        Atomics.wait(control.words, control.index, L.CONTROL_RESET_ACK);
      runner.reset(BigInt(MEMORY_MAP.bootRom.base), tohost);
      continue;
    }
    const seen = runner.wakeCount;
    const reason = runner.run(budget);
    // A bare-metal program's tohost word is read by the device host: let it look now.
    if (reason === L.STOP_TOHOST) ringDeviceHost(memory);
    // The device host bumps the wake word after any line change, halt or reset: if that happened since
    // `seen` was read (before run() looked at mip), the sleep returns at once.
    if (reason === L.STOP_WFI && runner.waiting) runner.sleep(seen);
  }
}
