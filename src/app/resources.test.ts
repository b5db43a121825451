import { describe, expect, it } from 'vitest';
import { HISTORY_SECONDS, ResourceHistory, type SampledVm } from './resources.ts';

const vm = (
  id: string,
  phase: SampledVm['view']['phase'],
  cpuPercent: number,
  downloaded = 0,
  written = 0,
  received = 0,
  sent = 0,
  availableMiB?: number,
) => ({
  id,
  view: {
    phase,
    cpuPercent,
    disk: { downloadedBytes: downloaded, totalBytes: 1 << 30, fetchedChunks: 0, writtenBytes: written },
    net: { receivedBytes: received, sentBytes: sent },
    guestMemory:
      availableMiB === undefined ? undefined : { totalBytes: 200 * 1024 * 1024, availableBytes: availableMiB * 1024 * 1024 },
  },
});

describe('ResourceHistory', () => {
  it('keeps a sample a second per VM for the chart, disk and network traffic as rates, and the page’s totals', () => {
    const history = new ResourceHistory();
    const seen: number[] = [];
    history.subscribe(() => seen.push(history.getVersion()));
    history.sample([vm('a', 'running', 50, 0, 0, 100, 50), vm('b', 'running', 120, 0, 0, 7, 3, 150)], 1_000_000);
    history.sample(
      [vm('a', 'running', 70, 4096, 2048, 100 + 8192, 50 + 2048, 150), vm('b', 'running', 80, 0, 0, 0, 0, 190)],
      1_002_000,
    );
    expect(seen).toEqual([1, 2]);
    expect(history.series('a')).toEqual([
      [1000, 1002],
      [50, 70],
      [0, 3],
      [0, 5],
      [null, 25],
    ]);
    expect(history.latest('b')?.cpuPercent).toBe(80);
    expect(history.totals()).toEqual({
      cpuPercent: 150,
      downloadedBytes: 4096,
      writtenBytes: 2048,
      receivedBytes: 100 + 8192,
      sentBytes: 50 + 2048,
      memoryUsedBytes: (50 + 10) * 1024 * 1024,
    });
  });

  it('counts a VM without a network card as 0 bytes', () => {
    const history = new ResourceHistory();
    history.sample([{ id: 'a', view: { phase: 'running', cpuPercent: 1 } }], 0);
    expect(history.latest('a')).toMatchObject({ receivedBytes: 0, sentBytes: 0 });
  });

  it('counts a VM that is not running as 0 % CPU and no memory, and a counter that starts again (a new run) from 0', () => {
    const history = new ResourceHistory();
    history.sample([vm('a', 'running', 90, 10 * 1024, 0, 4 * 1024, 0, 100)], 0);
    history.sample([vm('a', 'stopped', 90, 10 * 1024, 0, 4 * 1024, 0, 100)], 1000);
    history.sample([vm('a', 'running', 10, 2 * 1024, 0, 1024)], 2000);
    expect(history.series('a')).toEqual([
      [0, 1, 2],
      [90, 0, 10],
      [0, 0, 2],
      [0, 0, 1],
      [50, null, null],
    ]);
  });

  it('forgets samples older than HISTORY_SECONDS and the history of a VM no longer in the library', () => {
    const history = new ResourceHistory();
    for (let s = 0; s <= HISTORY_SECONDS + 10; s++)
      history.sample([vm('a', 'running', s), vm('b', 'running', 1)], s * 1000);
    const [at] = history.series('a');
    expect(at[0]).toBe(10);
    expect(at.at(-1)).toBe(HISTORY_SECONDS + 10);
    history.sample([vm('a', 'running', 1)], (HISTORY_SECONDS + 11) * 1000);
    expect(history.series('b')).toEqual([[], [], [], [], []]);
    expect(history.latest('b')).toBeUndefined();
  });
});
