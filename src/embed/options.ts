/**
 * The embed's options, validated with zod: they come from a tutorial author's code, HTML attributes or
 * an iframe's URL, so a mistake is refused with a message that names the option.
 */
import { z } from 'zod';
import { MAX_RAM_MIB } from '../controller/images.ts';
import { relayUrlProblem } from '../controller/page-network.ts';
import { MAX_CPUS, MIN_RAM_MIB } from '../../workers/protocol/machine-limits.ts';
import type { VmOptions, VmOptionsInput } from './types.ts';

export const DEFAULT_MEMORY_MIB = 256;
export const MIN_MEMORY_MIB = MIN_RAM_MIB;

export const VmOptionsSchema: z.ZodType<VmOptions, VmOptionsInput> = z.object({
  image: z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'the URL of an image manifest is required, also with a snapshot (which names its images by sha256 and does not hold them)'
          : undefined,
    })
    .min(1, 'the URL of an image manifest'),
  snapshotUrl: z.string().min(1, 'the URL of a snapshot file').optional(),
  memory: z.number().int().min(MIN_MEMORY_MIB).max(MAX_RAM_MIB).default(DEFAULT_MEMORY_MIB),
  cpus: z.number().int().min(1).max(MAX_CPUS).default(1),
  prompt: z.instanceof(RegExp).default(/[#$] $/),
  network: z.boolean().default(true),
  relay: z
    .string()
    .superRefine((url, context) => {
      const problem = relayUrlProblem(url);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

/** A zod failure as one sentence naming the offending option. */
export function describeIssue(error: z.ZodError, what: string): string {
  const issue = error.issues[0]!;
  const path = issue.path.join('.');
  return `${what}${path ? ` option "${path}"` : ''}: ${issue.message}`;
}

/** Parses a number attribute or URL parameter; undefined when absent, NaN (refused later) when not a number. */
export function optionalNumber(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  return Number(value);
}

const Origin = z.string().refine((value) => {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}, 'each entry must be an origin such as https://tutorial.example (scheme, host and port only)');

/** The `allow` list of the iframe page: comma-separated origins. No wildcard: trust is named. */
export const AllowListSchema = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
  )
  .pipe(z.array(Origin));
