/**
 * A machine whose hart runs in another thread than its devices, over one shared VM memory: the device
 * host's thread (DeviceHostLoop) and each hart's thread (runHart) find each other only through the
 * memory's shared block (layout.ts): the MMIO mailboxes, the device host's doorbell, each hart's wake
 * word, the machine control word and the guest clock's epoch. docs/harts.md describes the protocol;
 * this is the base the SMP work builds on (today: one hart).
 */
import * as L from '../cpu/layout.ts';
import type { ByteRing } from '../protocol/ring.ts';
import { GuestClock, hostEpochNow } from './clock.ts';
import type { DeviceHost, MachineStatus } from './device-host.ts';
import type { MachineState } from './machine.ts';
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

/** The machine control word (layout.ts CONTROL_*): the device host tells the harts to halt, reset or pause. */
function controlWord(memory: WebAssembly.Memory): { words: Int32Array; index: number } {
  return { words: new Int32Array(memory.buffer, L.SHARED_BLOCK, 0x1000 / 4), index: L.MACHINE_CONTROL / 4 };
}

/**
 * Asks every hart to stop for a reset or a pause (`request`): the harts count themselves in the acks
 * word as they stop, and the last one sets the acknowledgement.
 */
function requestStop(control: { words: Int32Array; index: number }, request: number, pins: DeviceHost['pins']): void {
  Atomics.store(control.words, L.CONTROL_ACKS / 4, 0);
  setControl(control, request);
  for (const hart of pins) hart.kick();
}

export interface DeviceHostThreadOptions {
  /** Host console input; the sender rings the device host's doorbell (ringDeviceHost) after writing. */
  readonly input?: ByteRing;
  /** Called once per turn of the loop, e.g. to pass the console's output on. */
  readonly onTurn?: () => void;
}

/** The machine's state at one moment with every hart stopped between slices, and its RAM then. */
export interface SavedThreadedMachine {
  readonly state: MachineState;
  readonly ram: Uint8Array;
}

/**
 * The device host's thread: answers the harts' MMIO, keeps timers and interrupt lines current, feeds
 * console input to the UART, handles the guest's poweroff and reboot, and saves the machine on request,
 * until the machine halts. Sleeps in Atomics.waitAsync between events, so the thread's event loop (block
 * I/O, messages) keeps running. Run it with the images loaded and the clock running; the harts may
 * start before or after.
 */
export class DeviceHostLoop {
  readonly #host: DeviceHost;
  readonly #options: DeviceHostThreadOptions;
  readonly #control: { words: Int32Array; index: number };
  #saves: ((saved: SavedThreadedMachine) => void)[] = [];

  constructor(host: DeviceHost, options: DeviceHostThreadOptions = {}) {
    this.#host = host;
    this.#options = options;
    this.#control = controlWord(host.memory);
  }

  /**
   * Stops every hart at the end of its slice (a hart asleep in WFI is woken to stop), copies its state
   * block, the devices' records and RAM with guest time standing still, and lets the harts go on: the
   * same MachineState a one-thread Machine saves, so a Machine can be built from it.
   */
  pauseAndSave(): Promise<SavedThreadedMachine> {
    const saved = new Promise<SavedThreadedMachine>((resolve) => this.#saves.push(resolve));
    ringDeviceHost(this.#host.memory);
    return saved;
  }

  async run(): Promise<MachineStatus> {
    const host = this.#host;
    const control = this.#control;
    const server = new MailboxServer(host.memory, host.pins.length);
    let pending: Uint8Array = new Uint8Array(0);
    for (;;) {
      const seen = server.doorbell;
      server.serve(host.physicalBus);
      host.update();
      if (this.#options.input) {
        if (pending.length === 0) pending = this.#options.input.read();
        pending = pending.subarray(host.receiveInput(pending));
      }
      host.checkTohost();
      this.#options.onTurn?.();
      const status = host.status;
      if (status.kind === 'halted') {
        setControl(control, L.CONTROL_HALT);
        for (const pins of host.pins) pins.kick();
        return status;
      }
      if (host.takeResetRequest()) {
        // The harts stop at the end of their slices and acknowledge; until then they may still need MMIO.
        requestStop(control, L.CONTROL_RESET, host.pins);
      }
      const state = Atomics.load(control.words, control.index);
      if (state === L.CONTROL_RESET_ACK) {
        host.reboot();
        setControl(control, L.CONTROL_RUN);
      } else if (state === L.CONTROL_RUN && this.#saves.length > 0) {
        requestStop(control, L.CONTROL_PAUSE, host.pins);
      } else if (state === L.CONTROL_PAUSED) {
        this.#save();
        setControl(control, L.CONTROL_RUN);
      }
      // A byte the UART's full FIFO refused is offered again when the guest reads one: that read is an
      // MMIO request, which rings the doorbell.
      const ms = host.msUntilNextEvent();
      await server.sleep(seen, Math.min(ms ?? MAX_DEVICE_SLEEP_MS, MAX_DEVICE_SLEEP_MS));
    }
  }

  #save(): void {
    const host = this.#host;
    host.clock.pause();
    const cpu = host.pins.map((_, hart) =>
      new Uint8Array(host.memory.buffer, L.HART_BASE + hart * L.HART_STRIDE, L.HART_STRIDE).slice(),
    );
    const saved = { state: { cpu, devices: host.saveState() }, ram: host.ram.slice() };
    host.clock.resume();
    const saves = this.#saves;
    this.#saves = [];
    for (const resolve of saves) resolve(saved);
  }
}

function setControl(control: { words: Int32Array; index: number }, value: number): void {
  Atomics.store(control.words, control.index, value);
  Atomics.notify(control.words, control.index);
}

/**
 * A hart's thread: runs the hart in slices until the device host halts the machine. Blocks the thread
 * (MMIO round trips, WFI sleeps), so it must run in a worker of its own. On a guest reboot it stops,
 * acknowledges, waits for the device host to load the images again and resets to the boot ROM; asked to
 * pause, it parks between slices until the device host has saved the machine. With several harts
 * (`harts`, each in its own thread), the last to stop acknowledges for all.
 * Call after the device host loaded the images and `runner` was reset.
 */
export function runHart(
  runner: HartRunner,
  memory: WebAssembly.Memory,
  tohost?: number,
  budget = SLICE_INSTRUCTIONS,
  harts = 1,
): void {
  const control = controlWord(memory);
  /** Counts this hart in; the last hart to stop for `request` acknowledges it, then every hart parks. */
  const stopFor = (request: number, ack: number): void => {
    if (Atomics.add(control.words, L.CONTROL_ACKS / 4, 1) + 1 === harts) {
      Atomics.store(control.words, control.index, ack);
      ringDeviceHost(memory);
    }
    for (;;) {
      const state = Atomics.load(control.words, control.index);
      if (state !== request && state !== ack) return;
      Atomics.wait(control.words, control.index, state);
    }
  };
  for (;;) {
    const state = Atomics.load(control.words, control.index);
    if (state === L.CONTROL_HALT) return;
    if (state === L.CONTROL_PAUSE) {
      // Between slices the state block is complete (pc, instret): the device host copies it now.
      stopFor(L.CONTROL_PAUSE, L.CONTROL_PAUSED);
      continue;
    }
    if (state === L.CONTROL_RESET) {
      stopFor(L.CONTROL_RESET, L.CONTROL_RESET_ACK);
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
