/**
 * One sentence for a value a zod schema refused, for a person rather than a programmer: the field's
 * path and what it must be ("manifest field disk.size: missing (a number)"), without zod's
 * "received undefined" or JavaScript type names where a plainer word exists.
 */
import type { z } from 'zod';

const TYPE_WORDS: Readonly<Record<string, string>> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'a list',
  int: 'a whole number',
  null: 'null',
};

/** `<what> field <path>: <problem>` for the first issue of `error`. */
export function schemaIssueSentence(error: z.ZodError, what: string, prefix: readonly string[] = []): string {
  const issue = error.issues[0]!;
  const path = [...prefix, ...issue.path.map(String)].join('.') || '(root)';
  return `${what} field ${path}: ${issueWords(issue)}`;
}

function issueWords(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const expected = TYPE_WORDS[issue.expected] ?? issue.expected;
    return /received undefined/.test(issue.message) ? `missing (${expected})` : `not ${expected}`;
  }
  if (issue.code === 'too_big')
    return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}`;
  if (issue.code === 'too_small')
    return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}`;
  return issue.message;
}
