// The machine's virtio console (slot 0, docs/console.md): it keeps the other devices' slots, and a
// snapshot from before it (slot 0 empty) restores with the console in its reset state.
import { describe, expect, it } from 'vitest';
import { coreModule } from '../cpu/test-support/machine.ts';
import { VIRTIO_ID_CONSOLE } from '../devices/virtio/console.ts';
import { VIRTIO_ID_NONE, type VirtioMmioState } from '../devices/virtio/mmio.ts';
import { MIN_RAM_MIB, MIB } from '../protocol/machine-limits.ts';
import { Machine, type MachineState } from './machine.ts';
import { VIRTIO_MMIO_SLOTS } from './memory-map.ts';

const bios = new Uint8Array(new Uint32Array(64).fill(0x0000006f).buffer);

async function machine(restore?: MachineState): Promise<Machine> {
  return new Machine(
    {
      bios,
      ramSize: MIN_RAM_MIB * MIB,
      bootargs: '',
      sharedMemory: true,
      coreModule: await coreModule(),
      consoleSize: { cols: 100, rows: 30 },
    },
    { console: { write() {} } },
    restore,
  );
}

describe("the machine's virtio console", () => {
  it('sits in slot 0 with the size it was built with; the entropy device keeps the top slot', async () => {
    const m = await machine();
    expect(m.virtio[0]!.deviceId).toBe(VIRTIO_ID_CONSOLE);
    expect(m.virtio[VIRTIO_MMIO_SLOTS - 1]!.deviceId).toBe(4);
    expect([m.devices.console!.cols, m.devices.console!.rows]).toEqual([100, 30]);
  });

  it('restores a snapshot from before it: slot 0 empty leaves the console reset, and input goes to the UART', async () => {
    const saved = (await machine()).saveState();
    const empty: VirtioMmioState = { ...saved.devices.virtio![0]!, deviceId: VIRTIO_ID_NONE, queues: [], device: null };
    const old: MachineState = { ...saved, devices: { ...saved.devices, virtio: [empty, ...saved.devices.virtio!.slice(1)] } };
    const restored = await machine(old);
    expect(restored.devices.console!.open).toBe(false);
    // The UART after reset has its FIFO off: it holds one byte (a closed virtio port would take none).
    expect(restored.receiveInput(new TextEncoder().encode('ls'))).toBe(1);
    expect(restored.uart.rxSpace()).toBe(0);
  });

  it('refuses a snapshot whose slot 0 holds another device', async () => {
    const saved = (await machine()).saveState();
    const rng = saved.devices.virtio![VIRTIO_MMIO_SLOTS - 1]!;
    const wrong: MachineState = {
      ...saved,
      devices: { ...saved.devices, virtio: [rng, ...saved.devices.virtio!.slice(1)] },
    };
    await expect(machine(wrong)).rejects.toThrow(/state is for device 4, this slot holds 3/);
  });
});
