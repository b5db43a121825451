/**
 * The checks a VM's name, RAM and CPUs pass, alike in the New VM dialog and in Settings: each field
 * gets one sentence saying what is wrong, or null.
 */
import { MAX_CPUS, MAX_RAM_MIB } from '../../workers/protocol/machine-limits.ts';

/** The least RAM offered for the user's own disk: what a small Debian needs. */
export const CUSTOM_MEMORY = { default: 512, minimum: 64 };

export interface VmFieldText {
  readonly name: string;
  readonly ram: string;
  readonly cpus: string;
}

export interface VmFieldLimits {
  /** Whether another VM already has this (trimmed) name. */
  readonly isNameTaken: (name: string) => boolean;
  /** The least RAM the image needs, in MiB. */
  readonly minRamMiB: number;
}

export interface VmFieldProblems {
  readonly name: string | null;
  readonly ram: string | null;
  readonly cpus: string | null;
}

export function vmFieldProblems(fields: VmFieldText, limits: VmFieldLimits): VmFieldProblems {
  const name = fields.name.trim();
  const ram = Number(fields.ram);
  const cpus = Number(fields.cpus);
  return {
    name:
      name === '' ? 'Give the VM a name.' : limits.isNameTaken(name) ? `A VM named “${name}” already exists.` : null,
    ram:
      fields.ram.trim() === '' || !Number.isInteger(ram)
        ? 'RAM is a whole number of MiB.'
        : ram < limits.minRamMiB
          ? `This image needs at least ${limits.minRamMiB} MiB.`
          : ram > MAX_RAM_MIB
            ? `At most ${MAX_RAM_MIB} MiB.`
            : null,
    cpus:
      fields.cpus.trim() === '' || !Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS
        ? `1 to ${MAX_CPUS} CPUs.`
        : null,
  };
}
