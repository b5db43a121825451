/**
 * The Memory and CPUs fields, as New VM and Settings show them: the bounds as a hint, the problem in its
 * place after a submit, and while `lockedHint` is set (Settings of a VM that is not powered off) both
 * fields disabled with that hint instead.
 */
import { MAX_RAM_MIB } from '../controller/images.ts';
import { MAX_CPUS } from '../../workers/protocol/machine-limits.ts';

export interface MachineFieldsProps {
  /** Prefix of the fields' ids and test ids: `${idPrefix}-ram`, `${idPrefix}-cpus-hint`, … */
  readonly idPrefix: string;
  readonly ram: string;
  readonly onRam: (value: string) => void;
  readonly minRam: number;
  readonly ramError: string | null;
  readonly cpus: string;
  readonly onCpus: (value: string) => void;
  readonly cpuError: string | null;
  /** Problems are shown once the person has tried to submit. */
  readonly submitted: boolean;
  readonly lockedHint?: string;
}

export function MachineFields(props: MachineFieldsProps) {
  const { idPrefix, submitted, lockedHint } = props;
  const oneCpuOnly = !globalThis.crossOriginIsolated;
  const cpuHint = oneCpuOnly
    ? 'This page is not cross-origin isolated, so the VM runs on one CPU.'
    : `1–${MAX_CPUS}, each a worker of its own`;
  return (
    <>
      <NumberField
        id={`${idPrefix}-ram`}
        label="Memory (MiB)"
        min={props.minRam}
        max={MAX_RAM_MIB}
        value={props.ram}
        onChange={props.onRam}
        error={submitted ? props.ramError : null}
        hint={lockedHint ?? `${props.minRam}–${MAX_RAM_MIB} MiB`}
        disabled={lockedHint !== undefined}
      />
      <NumberField
        id={`${idPrefix}-cpus`}
        label="CPUs"
        min={1}
        max={MAX_CPUS}
        value={props.cpus}
        onChange={props.onCpus}
        error={submitted ? props.cpuError : null}
        hint={lockedHint ?? cpuHint}
        disabled={lockedHint !== undefined}
      />
    </>
  );
}

interface NumberFieldProps {
  readonly id: string;
  readonly label: string;
  readonly min: number;
  readonly max: number;
  readonly value: string;
  readonly onChange: (value: string) => void;
  readonly error: string | null;
  readonly hint: string;
  readonly disabled: boolean;
}

function NumberField({ id, label, min, max, value, onChange, error, hint, disabled }: NumberFieldProps) {
  const shownError = disabled ? null : error;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        inputMode="numeric"
        min={min}
        max={max}
        step={1}
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={shownError !== null}
        aria-describedby={`${id}-hint`}
      />
      <p id={`${id}-hint`} className={shownError ? 'field-error' : 'field-hint'} data-testid={`${id}-hint`}>
        {shownError ?? hint}
      </p>
    </div>
  );
}
