/**
 * The postMessage API of the iframe page (embed.html). The page that embeds the iframe sends requests;
 * the iframe answers each with a reply carrying the same id, to the sender's origin only. It also
 * posts `tabvm:ready` once it listens, and `tabvm:state` / `tabvm:output` as the VM goes, to its parent,
 * addressed to each allowed origin in turn (the browser delivers a message only to a window of the
 * origin it is addressed to). Requests from origins not in the iframe's `allow` list are ignored.
 */
import { z } from 'zod';
import type { EmbedRequest } from './types.ts';

const Id = z.union([z.string().max(200), z.number()]);
const Timeout = z.number().int().positive().max(3_600_000).optional();
const SharedPath = z.string().max(4096);
/** A file a message may carry into the shared folder: 256 MiB at most (a bigger one through the library). */
const MAX_FILE_BYTES = 256 << 20;

export const EmbedRequestSchema: z.ZodType<EmbedRequest> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tabvm:start'), id: Id, timeout: Timeout }),
  z.object({ type: z.literal('tabvm:run'), id: Id, command: z.string().max(10_000), timeout: Timeout }),
  z.object({ type: z.literal('tabvm:type'), id: Id, text: z.string().max(100_000) }),
  z.object({ type: z.literal('tabvm:snapshot'), id: Id }),
  z.object({ type: z.literal('tabvm:restore'), id: Id, bytes: z.instanceof(Uint8Array).optional() }),
  z.object({
    type: z.literal('tabvm:writeFile'),
    id: Id,
    path: SharedPath,
    data: z.union([
      z.string().max(MAX_FILE_BYTES / 3),
      z.instanceof(Uint8Array).refine((bytes) => bytes.length <= MAX_FILE_BYTES, 'at most 256 MiB'),
    ]),
  }),
  z.object({ type: z.literal('tabvm:readFile'), id: Id, path: SharedPath }),
  z.object({ type: z.literal('tabvm:listFiles'), id: Id, path: SharedPath.optional() }),
  z.object({
    type: z.literal('tabvm:fetch'),
    id: Id,
    port: z.number().int().min(1).max(65535),
    path: z.string().startsWith('/').max(8192),
    method: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/)
      .optional(),
    headers: z.record(z.string().max(256), z.string().max(8192)).optional(),
    body: z
      .union([
        z.string().max(MAX_FILE_BYTES / 3),
        z.instanceof(Uint8Array).refine((bytes) => bytes.length <= MAX_FILE_BYTES, 'at most 256 MiB'),
      ])
      .optional(),
  }),
  z.object({
    type: z.literal('tabvm:waitFor'),
    id: Id,
    text: z.string().min(1).max(10_000).optional(),
    regexp: z.object({ source: z.string().max(10_000), flags: z.string().regex(/^[imsu]*$/) }).optional(),
    timeout: Timeout,
  }),
]);
