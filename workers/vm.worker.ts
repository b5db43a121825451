/**
 * The browser VM worker: one dedicated module Worker per VM (DESIGN.md §1). It hosts the VM runtime
 * (workers/runtime/vm-runtime.ts) and adapts it to Comlink: it loads the CPU core for the page's mode
 * (shared memory when the page is cross-origin isolated) and exposes the control API of
 * workers/protocol/vm-api.ts. Bytes travel over the VM's channels, not here.
 */
import * as Comlink from 'comlink';
import { VmRuntime } from './runtime/vm-runtime.ts';
import type { VmWorkerApi } from './protocol/vm-api.ts';
import type { SpawnHart } from './runtime/hart-threads.ts';

let runtime: VmRuntime | undefined;
let booting = false;

async function loadCore(shared: boolean): Promise<WebAssembly.Module> {
  // A module whose memory import is shared refuses an unshared memory, so the fallback has its own build.
  const url = shared
    ? new URL('./cpu/build/core.wasm', import.meta.url)
    : new URL('./cpu/build/core-unshared.wasm', import.meta.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the CPU core ${url.pathname} could not be loaded (HTTP ${response.status})`);
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * A hart's Worker, nested in this one (VMs of more than one CPU, docs/harts.md): it blocks in Atomics.wait,
 * which this worker's own event loop must not, and the page never sees it.
 */
const spawnHart: SpawnHart = (data, onError) => {
  const worker = new Worker(new URL('./hart.worker.ts', import.meta.url), { type: 'module', name: `tabvm CPU ${data.hartId}` });
  worker.onerror = (event) => {
    event.preventDefault();
    onError(event.message || 'its worker failed to load');
  };
  worker.onmessageerror = () => onError('its start message could not be read');
  worker.postMessage(data);
  return worker;
};

function current(): VmRuntime {
  if (!runtime) throw new Error('the VM has not been booted');
  return runtime;
}

const api: VmWorkerApi = {
  async boot(request, events) {
    if (runtime || booting) throw new Error('the VM is already booted');
    booting = true;
    try {
      runtime = await VmRuntime.boot(request, {
        coreModule: await loadCore(request.channels.mode === 'shared'),
        events,
        log: (message) => console.warn(`tabvm guest error: ${message}`),
        spawnHart,
      });
    } finally {
      booting = false;
    }
  },

  async snapshot(request) {
    const result = await current().snapshot(request);
    return Comlink.transfer(result, [result.bytes.buffer]);
  },

  pause: () => current().pause(),
  resume: () => current().resume(),
  flushDisks: () => current().flushDisks(),
  resize: (cols: number, rows: number) => current().resize(cols, rows),
  reset: () => current().reset(),
  powerOff: () => current().powerOff(),
  stats: () => current().stats(),
};

Comlink.expose(api);
