import { describe, expect, it } from 'vitest';
import { vmFieldProblems } from './vm-fields.ts';
import { MAX_CPUS, MAX_RAM_MIB } from '../../workers/protocol/machine-limits.ts';

const limits = { isNameTaken: (name: string) => name.toLowerCase() === 'taken', minRamMiB: 64 };
const ok = { name: 'vm-1', ram: '128', cpus: '2' };

describe('vmFieldProblems', () => {
  it('accepts a free name, RAM within the bounds and 1 to MAX_CPUS CPUs', () => {
    expect(vmFieldProblems(ok, limits)).toEqual({ name: null, ram: null, cpus: null });
    expect(vmFieldProblems({ ...ok, ram: String(MAX_RAM_MIB), cpus: String(MAX_CPUS) }, limits)).toEqual({
      name: null,
      ram: null,
      cpus: null,
    });
  });

  it('refuses an empty or taken name, compared trimmed', () => {
    expect(vmFieldProblems({ ...ok, name: '   ' }, limits).name).toBe('Give the VM a name.');
    expect(vmFieldProblems({ ...ok, name: ' Taken ' }, limits).name).toBe('A VM named “Taken” already exists.');
  });

  it('refuses RAM that is not a whole number, below the image’s least or above the most', () => {
    expect(vmFieldProblems({ ...ok, ram: '' }, limits).ram).toBe('RAM is a whole number of MiB.');
    expect(vmFieldProblems({ ...ok, ram: '96.5' }, limits).ram).toBe('RAM is a whole number of MiB.');
    expect(vmFieldProblems({ ...ok, ram: '63' }, limits).ram).toBe('This image needs at least 64 MiB.');
    expect(vmFieldProblems({ ...ok, ram: String(MAX_RAM_MIB + 1) }, limits).ram).toBe(`At most ${MAX_RAM_MIB} MiB.`);
  });

  it('refuses CPUs outside 1 to MAX_CPUS or not whole', () => {
    for (const cpus of ['', '0', String(MAX_CPUS + 1), '1.5', 'two']) {
      expect(vmFieldProblems({ ...ok, cpus }, limits).cpus).toBe(`1 to ${MAX_CPUS} CPUs.`);
    }
  });
});
