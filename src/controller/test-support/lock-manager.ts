/** For tests: a stand-in for the browser's lock manager (navigator.locks), shared by the "tabs" of a test. */
import type { LockApi } from '../vm-lock.ts';

/** Exclusive locks by name, as navigator.locks grants them (ifAvailable, signal, query). */
export function lockManager(): LockApi {
  const held = new Set<string>();
  const waiting: { name: string; grant: () => void }[] = [];
  const grantNext = (name: string) => {
    const next = waiting.findIndex((w) => w.name === name);
    if (next >= 0) waiting.splice(next, 1)[0]!.grant();
  };
  return {
    async request(name, options, callback) {
      const run = async () => {
        held.add(name);
        try {
          await callback({ name });
        } finally {
          held.delete(name);
          grantNext(name);
        }
      };
      if (!held.has(name)) return run();
      if (options.ifAvailable) return callback(null);
      return new Promise((resolve, reject) => {
        const entry = { name, grant: () => resolve(run()) };
        waiting.push(entry);
        options.signal?.addEventListener('abort', () => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(options.signal!.reason);
        });
      });
    },
    async query() {
      return { held: [...held].map((name) => ({ name })) };
    },
  };
}
