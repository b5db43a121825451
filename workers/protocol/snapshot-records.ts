/**
 * The machine a snapshot describes, checked when the file is read (at Import, at Restore, by
 * `npm run vm --snapshot`): its RAM size against the limits a new VM has (machine-limits.ts), the
 * length of each hart's state block, and every device's record against its schema here. The container
 * codec (snapshot-container.ts) checks the file's frame and layout and knows nothing of the machine; this
 * is the layer above it, so a record that would fail in the worker, or worse restore silently as junk,
 * is refused first with one sentence.
 *
 * The schemas describe exactly what each device's `saveState()` writes (the device files hold the
 * TypeScript types; workers/machine/snapshot.ts hands these parsed records to the machine where those
 * types are expected, so the compiler keeps the two together). The few hardware sizes they need are
 * repeated here, because the page may import nothing under workers/ but this directory; a test
 * (workers/machine/snapshot-records.test.ts) holds each equal to the machine's own constant.
 */
import { z } from 'zod';
import { SnapshotError } from './snapshot-container.ts';
import type { SnapshotHeader } from './snapshot-format.ts';
import { snapshotRamProblem } from './machine-limits.ts';
import { isMacAddress } from './mac-address.ts';

/** Bytes of one hart's state block (workers/cpu/layout.ts HART_STRIDE): the CPU record of each hart. */
export const SNAPSHOT_HART_BLOCK_BYTES = 0x2_0000;
/** Guest-physical address of RAM's first byte (workers/machine/memory-map.ts, DRAM). */
export const SNAPSHOT_RAM_BASE = 0x8000_0000;
/** Interrupt sources of the PLIC, source 0 included (it does not exist). */
export const SNAPSHOT_PLIC_SOURCES = 96;
/** The PLIC's highest priority and threshold. */
export const SNAPSHOT_PLIC_MAX_PRIORITY = 7;
/** Bytes the 16550's receive FIFO holds. */
export const SNAPSHOT_UART_FIFO_BYTES = 16;
/** Virtio 1.2 §2.7: "The maximum Queue Size value is 32768." */
export const SNAPSHOT_VIRTQUEUE_MAX_SIZE = 32768;
/** virtio-mmio slots of the machine. */
export const SNAPSHOT_VIRTIO_SLOTS = 8;
/** Virtio device ids (§5) of the devices tabvm has, and 0 for an empty slot. */
const VIRTIO_ID_NONE = 0;
const VIRTIO_ID_NET = 1;
const VIRTIO_ID_BLOCK = 2;
const VIRTIO_ID_CONSOLE = 3;
const VIRTIO_ID_ENTROPY = 4;
const VIRTIO_ID_9P = 9;
/** Fids a 9p server holds at most (workers/host/9p/server.ts NINEP_MAX_FIDS). */
export const SNAPSHOT_9P_MAX_FIDS = 65536;

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

const version = <V extends number>(v: V) =>
  z.literal(v, { error: (issue) => `unknown state version ${JSON.stringify(issue.input)}` });
const unsigned = (max: number) =>
  z.number({ error: 'not a number' }).int('not a whole number').min(0, 'negative').max(max, `above ${max}`);
const u8 = unsigned(0xff);
const u16 = unsigned(0xffff);
const u32 = unsigned(0xffff_ffff);
const flag = z.boolean({ error: 'not true or false' });
/** 64-bit values are kept as decimal strings (JSON has no 64-bit integers). */
const decimalU64 = z
  .string({ error: 'not a decimal string' })
  .regex(/^\d{1,20}$/, { error: 'not a decimal number', abort: true })
  .refine((s) => BigInt(s) <= U64_MAX, 'above 2^64 − 1');
const decimalI64 = z
  .string({ error: 'not a decimal string' })
  .regex(/^-?\d{1,19}$/, { error: 'not a decimal number', abort: true })
  .refine((s) => BigInt(s) >= I64_MIN && BigInt(s) <= I64_MAX, 'outside the signed 64-bit range');
const hexU64 = z.string({ error: 'not a hex string' }).regex(/^[0-9a-f]{1,16}$/, 'not a 64-bit hex number');
/** A guest-physical address as the transport keeps it: any 64-bit value the driver wrote. */
const address = z
  .number({ error: 'not a number' })
  .min(0, 'negative')
  .max(2 ** 64, 'above 2^64')
  .refine(Number.isInteger, 'not a whole number');

const plicSource = unsigned(SNAPSHOT_PLIC_SOURCES - 1).min(1, 'source 0 does not exist');
const plicSources = z.array(plicSource).max(SNAPSHOT_PLIC_SOURCES);
const plicPriority = unsigned(SNAPSHOT_PLIC_MAX_PRIORITY);

export const machineRecordSchema = z.object({ v: version(1), resets: unsigned(Number.MAX_SAFE_INTEGER) });
/** The rate of the clock record's `ticks`: the guest's timebase (workers/machine/memory-map.ts, QEMU virt's 10 MHz). */
export const SNAPSHOT_TIMEBASE_HZ = 10_000_000;
export const clockStateSchema = z.object({ v: version(1), ticks: decimalU64 });
export const clintStateSchema = z
  .object({ v: version(1), msip: z.array(flag).min(1).max(8), mtimecmp: z.array(decimalU64).max(8) })
  .refine((s) => s.msip.length === s.mtimecmp.length, 'msip and mtimecmp are for different numbers of harts');
export const plicStateSchema = z
  .object({
    v: version(1),
    priority: z.array(plicPriority).max(SNAPSHOT_PLIC_SOURCES),
    pending: plicSources,
    awaitingCompletion: plicSources,
    level: plicSources,
    enable: z.array(plicSources).max(16),
    threshold: z.array(plicPriority).max(16),
  })
  .refine((s) => s.enable.length === s.threshold.length, 'enable and threshold are for different numbers of contexts');
export const uartStateSchema = z.object({
  v: version(1),
  ier: u8,
  lcr: u8,
  mcr: u8,
  scr: u8,
  divisor: u16,
  fcr: u8,
  rxFifo: z.array(u8).max(SNAPSHOT_UART_FIFO_BYTES),
  lineErrors: u8,
  modemDeltas: u8,
  thrEmptyInterrupt: flag,
  timeoutInterrupt: flag,
  timeoutDeadline: decimalU64.nullable(),
});
export const rtcStateSchema = z.object({
  v: version(1),
  offsetNs: decimalI64,
  timeHighLatch: u32,
  pendingTimeHigh: u32.nullable(),
  alarmNs: decimalU64,
  alarmArmed: flag,
  irqEnabled: flag,
  irqPending: flag,
});
export const virtqueueStateSchema = z.object({
  v: version(1),
  size: unsigned(SNAPSHOT_VIRTQUEUE_MAX_SIZE),
  ready: flag,
  descriptorArea: address,
  driverArea: address,
  deviceArea: address,
  lastAvailIdx: u16,
  usedIdx: u16,
});
export const virtioBlkStateSchema = z.object({ v: version(1), capacity: decimalU64, readOnly: flag });
export const virtioRngStateSchema = z.object({ v: version(1) });
/** The virtio console's terminal size (its config's le16 cols and rows). */
export const virtioConsoleStateSchema = z.object({ v: version(1), cols: u16.min(1, 'zero'), rows: u16.min(1, 'zero') });
/** Control events the guest agent's port keeps for the driver (workers/devices/virtio/agent-console.ts). */
const AGENT_CONTROL_EVENTS = [1, 6, 7];
/** The guest agent's port (a virtio console with MULTIPORT): its handshake with the driver. */
export const agentConsoleStateSchema = z.object({
  v: version(1),
  deviceReady: flag,
  portReady: flag,
  guestOpen: flag,
  pendingControl: z
    .array(
      z.object({
        event: u16.refine((event) => AGENT_CONTROL_EVENTS.includes(event), 'not a control event the port sends'),
        value: u16,
      }),
    )
    .max(16, 'more than 16 control messages'),
});
const unicastMac = z
  .string({ error: 'not a string' })
  .refine(isMacAddress, 'not a MAC address')
  .refine((mac) => (parseInt(mac.slice(0, 2), 16) & 1) === 0, 'a multicast address');
/** A dotted IPv4 address, each byte in decimal without leading zeros. */
const ipv4Address = z
  .string({ error: 'not a string' })
  .regex(/^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/, 'not an IPv4 address');
/** The card; version 2 adds the guest's IPv4 address as the card saw it (null if none), version 1 still restores. */
export const virtioNetStateSchema = z.discriminatedUnion(
  'v',
  [
    z.object({ v: z.literal(1), mac: unicastMac, linkUp: flag }),
    z.object({ v: z.literal(2), mac: unicastMac, linkUp: flag, address: ipv4Address.nullable() }),
  ],
  { error: (issue) => `unknown state version ${JSON.stringify((issue.input as { v?: unknown } | undefined)?.v)}` },
);
/** A 9p name as the server keeps it in a fid's path: what it accepts from the guest, no more. */
const ninePName = z
  .string()
  .min(1, 'an empty name')
  .max(255, 'a name longer than 255 characters')
  .refine((name) => !name.includes('/') && !name.includes('\0') && name !== '.' && name !== '..', 'an illegal name');
export const virtio9pStateSchema = z.object({
  v: version(1),
  tag: z.string().min(1).max(255),
  server: z.object({
    v: version(1),
    msize: u32,
    fids: z
      .array(
        z.object({
          fid: u32,
          path: z.array(ninePName).max(4096, 'a path deeper than 4096 names'),
          kind: z.enum(['file', 'directory', 'symlink']),
          openFlags: u32.nullable(),
          xattr: z.literal(true).optional(),
        }),
      )
      .max(SNAPSHOT_9P_MAX_FIDS, `more than ${SNAPSHOT_9P_MAX_FIDS} fids`),
  }),
});

const transportFields = {
  v: version(2),
  status: u8,
  deviceFeaturesSel: u32,
  driverFeaturesSel: u32,
  driverFeatures: hexU64,
  queueSel: u32,
  interruptStatus: u32,
  configGeneration: u32,
  queues: z.array(virtqueueStateSchema).max(8),
};
/** A virtio-mmio slot: the transport's registers and queues, and the record of the device it holds. */
export const virtioMmioStateSchema = z.discriminatedUnion(
  'deviceId',
  [
    z.object({ ...transportFields, deviceId: z.literal(VIRTIO_ID_NONE), device: z.null() }),
    z.object({ ...transportFields, deviceId: z.literal(VIRTIO_ID_NET), device: virtioNetStateSchema }),
    z.object({ ...transportFields, deviceId: z.literal(VIRTIO_ID_BLOCK), device: virtioBlkStateSchema }),
    z.object({
      ...transportFields,
      deviceId: z.literal(VIRTIO_ID_CONSOLE),
      device: z.union([virtioConsoleStateSchema, agentConsoleStateSchema], {
        error: 'neither a console nor the guest agent port',
      }),
    }),
    z.object({ ...transportFields, deviceId: z.literal(VIRTIO_ID_ENTROPY), device: virtioRngStateSchema }),
    z.object({ ...transportFields, deviceId: z.literal(VIRTIO_ID_9P), device: virtio9pStateSchema }),
  ],
  { error: 'not a virtio device this tabvm has' },
);

/** Every device's record, by the name the machine saves it under. */
export const snapshotDevicesSchema = z.object({
  machine: machineRecordSchema,
  clock: clockStateSchema,
  clint: clintStateSchema,
  plic: plicStateSchema,
  uart0: uartStateSchema,
  rtc: rtcStateSchema,
  /** Absent in snapshots from before virtio devices (every slot was empty). */
  virtio: z.array(virtioMmioStateSchema).max(SNAPSHOT_VIRTIO_SLOTS).optional(),
});
export type SnapshotDevices = z.infer<typeof snapshotDevicesSchema>;

/** How refusals name each record: as the device's own messages do. */
const RECORD_NAMES: Readonly<Record<string, string>> = {
  machine: 'machine',
  clock: 'clock',
  clint: 'clint',
  plic: 'plic',
  uart0: 'uart16550',
  rtc: 'goldfish RTC',
  virtio: 'virtio-mmio',
};

/**
 * The device records of a snapshot's header, checked: the machine's RAM size is one a new VM may have,
 * each hart's block has this tabvm's length, every record parses, the CLINT and PLIC are for the
 * machine's harts, and a ready virtqueue's rings lie in RAM. Throws a SnapshotError of one line otherwise.
 */
/**
 * The network card of a VM restored from a snapshot with this header, or undefined when it had none. Its
 * MAC is `wanted` (the VM's own) when the snapshot's guest agent was at work (its port open), which then
 * re-addresses the guest (docs/guest-agent.md); else the one the guest booted with. `address` is the
 * guest's IPv4 address as the card saw it (null if unknown), the lease the network is told of.
 */
export function restoredCard(
  header: SnapshotHeader,
  wanted: string | undefined,
): { mac: string; address: string | null } | undefined {
  const slots = checkSnapshotMachine(header).virtio ?? [];
  const card = slots.find((slot) => slot.deviceId === 1);
  if (card?.deviceId !== 1) return undefined;
  const agentAtWork = slots.some((slot) => slot.deviceId === 3 && 'guestOpen' in slot.device && slot.device.guestOpen);
  return {
    mac: (agentAtWork && wanted) || card.device.mac,
    address: card.device.v === 2 ? card.device.address : null,
  };
}

export function checkSnapshotMachine(header: SnapshotHeader): SnapshotDevices {
  const { ramSize, harts } = header.machine;
  const ram = snapshotRamProblem(ramSize);
  if (ram !== undefined) throw new SnapshotError(ram);
  if (header.cpu.blockSize !== SNAPSHOT_HART_BLOCK_BYTES) {
    throw new SnapshotError(
      `the snapshot's CPU record is ${header.cpu.blockSize} bytes per hart, this tabvm's is ${SNAPSHOT_HART_BLOCK_BYTES}`,
    );
  }
  const parsed = snapshotDevicesSchema.safeParse(header.devices);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const [record, ...path] = issue.path.map(String);
    const name = record === undefined ? 'devices' : (RECORD_NAMES[record] ?? record);
    // A record's version needs no field name: "uart16550: unknown state version 2".
    const field = path.length > 0 && path.join('.') !== 'v' ? ` ${path.join('.')}` : '';
    throw new SnapshotError(`snapshot state cannot be restored: ${name}${field}: ${issue.message}`);
  }
  const devices = parsed.data;
  if (devices.clint.msip.length !== harts) {
    throw new SnapshotError(
      `snapshot state cannot be restored: clint: a record for ${devices.clint.msip.length} harts, the machine has ${harts}`,
    );
  }
  if (devices.plic.enable.length !== 2 * harts) {
    throw new SnapshotError(
      `snapshot state cannot be restored: plic: a record of ${devices.plic.enable.length} contexts, the machine has ${2 * harts}`,
    );
  }
  devices.virtio?.forEach((slot, s) =>
    slot.queues.forEach((queue, q) => {
      if (!queue.ready) return;
      // Virtio 1.2 §2.7: a split queue's descriptor table, driver area and device area, in guest memory.
      const areas = [
        ['descriptor table', queue.descriptorArea, 16 * queue.size],
        ['driver area', queue.driverArea, 6 + 2 * queue.size],
        ['device area', queue.deviceArea, 6 + 8 * queue.size],
      ] as const;
      for (const [what, at, length] of areas) {
        if (at < SNAPSHOT_RAM_BASE || at + length > SNAPSHOT_RAM_BASE + ramSize) {
          throw new SnapshotError(
            `snapshot state cannot be restored: virtio-mmio slot ${s}: queue ${q}'s ${what} at 0x${at.toString(16)} is outside the machine's RAM`,
          );
        }
      }
    }),
  );
  return devices;
}
