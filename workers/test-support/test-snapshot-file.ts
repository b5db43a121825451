/**
 * Small snapshot files for tests of the code that stores, restores, imports and clones them: a blank
 * hart, the device records of a machine just powered on, the RAM pages and disks a test gives, and
 * nothing else.
 */
import { encodeSnapshotFile, type SnapshotDisk } from '../protocol/snapshot-container.ts';
import type { SnapshotImageIdentity } from '../protocol/snapshot-format.ts';
import { MIB } from '../protocol/machine-limits.ts';
import {
  SNAPSHOT_HART_BLOCK_BYTES,
  SNAPSHOT_PLIC_SOURCES,
  type SnapshotDevices,
} from '../protocol/snapshot-records.ts';

/** The records a one-hart machine saves right after power-on (its virtio slots left out, as in old snapshots). */
export const TEST_DEVICE_RECORDS: SnapshotDevices = {
  machine: { v: 1, resets: 0 },
  clock: { v: 1, ticks: '0' },
  clint: { v: 1, msip: [false], mtimecmp: ['18446744073709551615'] },
  plic: {
    v: 1,
    priority: new Array<number>(SNAPSHOT_PLIC_SOURCES).fill(0),
    pending: [],
    awaitingCompletion: [],
    level: [],
    enable: [[], []],
    threshold: [0, 0],
  },
  uart0: {
    v: 1,
    ier: 0,
    lcr: 0,
    mcr: 0,
    scr: 0,
    divisor: 0,
    fcr: 0,
    rxFifo: [],
    lineErrors: 0,
    modemDeltas: 0,
    thrEmptyInterrupt: false,
    timeoutInterrupt: false,
    timeoutDeadline: null,
  },
  rtc: {
    v: 1,
    offsetNs: '0',
    timeHighLatch: 0,
    pendingTimeHigh: null,
    alarmNs: '0',
    alarmArmed: false,
    irqEnabled: false,
    irqPending: false,
  },
};

export interface TestSnapshotOptions {
  readonly id: string;
  readonly parent?: string | null;
  readonly ramSize?: number;
  readonly bios?: SnapshotImageIdentity;
  readonly kernel?: SnapshotImageIdentity;
  readonly initrd?: SnapshotImageIdentity;
  /** Guest page numbers stored, with their bytes (SNAPSHOT_PAGE_SIZE each); none by default. */
  readonly pages?: Uint32Array;
  readonly pageData?: Uint8Array;
  readonly disks?: readonly SnapshotDisk[];
  /** The device records (default TEST_DEVICE_RECORDS); a test of the reader's checks gives broken ones. */
  readonly devices?: Readonly<Record<string, unknown>>;
  /** Bytes of the hart's block (default this tabvm's). */
  readonly hartBlockBytes?: number;
}

export function testSnapshotFile(options: TestSnapshotOptions): Promise<Uint8Array<ArrayBuffer>> {
  return encodeSnapshotFile(
    {
      id: options.id,
      parent: options.parent ?? null,
      machine: { ramSize: options.ramSize ?? 16 * MIB, harts: 1, bootargs: '' },
      images: {
        bios: options.bios ?? { size: 1, sha256: '0'.repeat(64) },
        kernel: options.kernel ?? null,
        initrd: options.initrd ?? null,
      },
      createdAt: new Date(0).toISOString(),
      devices: options.devices ?? TEST_DEVICE_RECORDS,
    },
    {
      cpu: [new Uint8Array(options.hartBlockBytes ?? SNAPSHOT_HART_BLOCK_BYTES)],
      pages: options.pages ?? new Uint32Array(0),
      zeroed: new Uint32Array(0),
      pageData: options.pageData ?? new Uint8Array(0),
      disks: options.disks ?? [],
    },
  );
}

/** A whole overlay of one 4 KiB block (index `block`, every byte `fill`) over a disk of `size` bytes. */
export function testSnapshotDisk(size: number, image?: string, block = 5, fill = 1): SnapshotDisk {
  return {
    size,
    blockSize: 4096,
    indices: Uint32Array.of(block),
    data: new Uint8Array(4096).fill(fill),
    removed: new Uint32Array(0),
    whole: true,
    ...(image !== undefined ? { image } : {}),
  };
}

/** A virtio-blk slot whose one queue is ready with its rings at the start of RAM, as a driver leaves it. */
export function testVirtioBlkSlot(queue: Partial<Record<'descriptorArea' | 'driverArea' | 'deviceArea', number>> = {}) {
  return {
    v: 2,
    deviceId: 2,
    status: 15,
    deviceFeaturesSel: 0,
    driverFeaturesSel: 0,
    driverFeatures: '100000000',
    queueSel: 0,
    interruptStatus: 0,
    configGeneration: 0,
    queues: [
      {
        v: 1,
        size: 128,
        ready: true,
        descriptorArea: 0x8000_0000,
        driverArea: 0x8000_1000,
        deviceArea: 0x8000_2000,
        lastAvailIdx: 0,
        usedIdx: 0,
        ...queue,
      },
    ],
    device: { v: 1, capacity: '2048', readOnly: false },
  };
}

/** A snapshot file whose machine this tabvm must refuse, what is wrong with it, and the refusal expected. */
export interface BrokenSnapshot {
  readonly defect: string;
  readonly file: Uint8Array<ArrayBuffer>;
  readonly refusal: RegExp;
}

/**
 * Snapshot files sound as files (checksum, layout) whose machine is not: each defect once, as issue 12
 * lists them. Every reader (Import, Restore, npm run vm --snapshot) must refuse each at read time.
 */
export async function brokenSnapshots(base: Omit<TestSnapshotOptions, 'id'> = {}): Promise<BrokenSnapshot[]> {
  const d = TEST_DEVICE_RECORDS;
  const broken = async (
    defect: string,
    refusal: RegExp,
    options: Partial<TestSnapshotOptions>,
  ): Promise<BrokenSnapshot> => ({
    defect,
    refusal,
    file: await testSnapshotFile({ ...base, id: `broken-${defect.replace(/\W+/g, '-')}`, ...options }),
  });
  return Promise.all([
    broken('a PLIC threshold of "x"', /^snapshot state cannot be restored: plic threshold\.0: not a number$/, {
      devices: { ...d, plic: { ...d.plic, threshold: ['x', 0] } },
    }),
    broken(
      'a virtqueue address of -1',
      /^snapshot state cannot be restored: virtio-mmio 0\.queues\.0\.descriptorArea: negative$/,
      { devices: { ...d, virtio: [testVirtioBlkSlot({ descriptorArea: -1 })] } },
    ),
    broken(
      'a ready virtqueue outside RAM',
      /^snapshot state cannot be restored: virtio-mmio slot 0: queue 0's device area at 0x90000000 is outside the machine's RAM$/,
      { devices: { ...d, virtio: [testVirtioBlkSlot({ deviceArea: 0x9000_0000 })] } },
    ),
    broken('3072 MiB of RAM', /^the snapshot's machine has 3072 MiB of RAM: at most 2048 MiB of RAM is supported$/, {
      ramSize: 3072 * MIB,
    }),
    broken(
      '256 MiB + 4 KiB of RAM',
      /^the snapshot's machine has 268439552 bytes of RAM: RAM must be a whole number of MiB$/,
      {
        ramSize: 256 * MIB + 4096,
      },
    ),
    broken('an mtimecmp of "abc"', /^snapshot state cannot be restored: clint mtimecmp\.0: not a decimal number$/, {
      devices: { ...d, clint: { ...d.clint, mtimecmp: ['abc'] } },
    }),
    broken('a CPU record of 64 bytes', /^the snapshot's CPU record is 64 bytes per hart, this tabvm's is 131072$/, {
      hartBlockBytes: 64,
    }),
  ]);
}
