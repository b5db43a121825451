// Test entry for workers/cpu/rvc.test.ts: the RVC expander alone, in its own wasm module.
export { expandCompressed } from '../rvc';
