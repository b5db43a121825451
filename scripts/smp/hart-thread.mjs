// Entry of a hart's worker thread: Node 20 does not apply tsx's loader to a worker's own entry module, so
// this plain module registers it and then imports the TypeScript program.
import { register } from 'tsx/esm/api';

register();
await import('./hart-thread.ts');
