/**
 * A VM's live resource figures: host CPU use, the guest's memory in use (as its agent reports it), disk
 * bytes downloaded and written, network bytes received and sent, and a chart of the last HISTORY_SECONDS
 * (uPlot, on a canvas) of CPU, memory, disk and network traffic. The page's totals are in the sidebar
 * (ResourceTotalsLine).
 */
import { useEffect, useRef, useSyncExternalStore } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { VmEntry } from './library.ts';
import { HISTORY_SECONDS, type ResourceHistory } from './resources.ts';
import { formatMiB } from './format.ts';

const CHART_HEIGHT = 90;

export function ResourcePanel({ entry, history }: { entry: VmEntry; history: ResourceHistory }) {
  const { controller, definition } = entry;
  const view = useSyncExternalStore(controller.subscribe, controller.getView);
  const version = useSyncExternalStore(history.subscribe, history.getVersion);
  const live = view.phase === 'running' || view.phase === 'paused';
  const cpus = globalThis.crossOriginIsolated ? (definition.cpus ?? 1) : 1;
  return (
    <section className="resources" aria-label={`Resources of ${definition.name}`} data-testid="resources">
      <div className="resources-figures">
        <span
          data-testid="cpu-figure"
          data-cpu={live ? view.cpuPercent.toFixed(1) : ''}
          title="Host CPU this VM's worker threads used over the last second, in % of one core (all its CPUs summed)"
        >
          CPU {live ? `${Math.round(view.cpuPercent)} %` : '—'}
          <span className="vm-meta"> of one core{cpus > 1 ? ` (up to ${cpus * 100} %)` : ''}</span>
        </span>
        {live && view.guestMemory && (
          <span
            data-testid="memory-figure"
            data-used={view.guestMemory.totalBytes - view.guestMemory.availableBytes}
            data-total={view.guestMemory.totalBytes}
            title="The guest's memory in use (MemTotal − MemAvailable of its /proc/meminfo), as its guest agent reports it"
          >
            Memory {formatMiB(view.guestMemory.totalBytes - view.guestMemory.availableBytes)} in use
            <span className="vm-meta"> of {formatMiB(view.guestMemory.totalBytes)}</span>
          </span>
        )}
        {view.disk && (
          <span data-testid="disk-figures">
            Disk {formatMiB(view.disk.downloadedBytes)} downloaded · {formatMiB(view.disk.writtenBytes ?? 0)} written
          </span>
        )}
        {view.net && (
          <span
            data-testid="net-figures"
            data-received={view.net.receivedBytes}
            data-sent={view.net.sentBytes}
            title="Bytes of Ethernet frames the VM's network card received and sent in this run"
          >
            Network {formatMiB(view.net.receivedBytes)} received · {formatMiB(view.net.sentBytes)} sent
          </span>
        )}
        <span className="resources-legend" aria-hidden="true">
          <span>
            <span className="swatch" style={{ background: '#2b6cb0' }} />
            CPU (%)
          </span>
          <span>
            <span className="swatch" style={{ background: '#6b46c1' }} />
            memory (% in use)
          </span>
          <span>
            <span className="swatch" style={{ background: '#c05621' }} />
            disk (KiB/s)
          </span>
          <span>
            <span className="swatch" style={{ background: '#2f855a' }} />
            network (KiB/s), last {HISTORY_SECONDS / 60} min
          </span>
        </span>
      </div>
      <ResourceChart history={history} vmId={definition.id} version={version} />
    </section>
  );
}

function ResourceChart({ history, vmId, version }: { history: ResourceHistory; vmId: string; version: number }) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = holder.current!;
    const style = getComputedStyle(element);
    const chart = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height: CHART_HEIGHT,
        legend: { show: false },
        cursor: { y: false },
        scales: { x: { time: true }, cpu: { range: (_u, _min, max) => [0, Math.max(100, max)] }, kiBps: {} },
        axes: [
          {
            stroke: style.color,
            grid: { show: false },
            values: (_u, ticks) =>
              ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { minute: '2-digit', second: '2-digit' })),
          },
          { scale: 'cpu', stroke: style.color, values: (_u, ticks) => ticks.map((t) => `${t} %`), size: 52 },
          {
            scale: 'kiBps',
            side: 1,
            stroke: style.color,
            grid: { show: false },
            values: (_u, ticks) => ticks.map((t) => `${t} KiB/s`),
            size: 70,
          },
        ],
        series: [
          {},
          {
            label: 'CPU',
            scale: 'cpu',
            stroke: '#2b6cb0',
            width: 1.5,
            value: (_u, v) => (v == null ? '—' : `${v.toFixed(0)} %`),
          },
          {
            label: 'Disk',
            scale: 'kiBps',
            stroke: '#c05621',
            width: 1.5,
            value: (_u, v) => (v == null ? '—' : `${v.toFixed(0)} KiB/s`),
          },
          {
            label: 'Network',
            scale: 'kiBps',
            stroke: '#2f855a',
            width: 1.5,
            value: (_u, v) => (v == null ? '—' : `${v.toFixed(0)} KiB/s`),
          },
          {
            label: 'Memory',
            scale: 'cpu',
            stroke: '#6b46c1',
            width: 1.5,
            value: (_u, v) => (v == null ? '—' : `${v.toFixed(0)} %`),
          },
        ],
      },
      history.series(vmId),
      element,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(200, element.clientWidth), height: CHART_HEIGHT }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [history, vmId]);

  useEffect(() => {
    plot.current?.setData(history.series(vmId));
  }, [history, vmId, version]);

  return (
    <div
      className="resource-chart"
      ref={holder}
      data-testid="resource-chart"
      role="img"
      aria-label={`CPU, memory, disk and network traffic over the last ${HISTORY_SECONDS / 60} minutes`}
    />
  );
}

/** The page's totals over every VM, for the sidebar. */
export function ResourceTotalsLine({ history }: { history: ResourceHistory }) {
  useSyncExternalStore(history.subscribe, history.getVersion);
  const totals = history.totals();
  return (
    <p
      className="vm-meta totals"
      data-testid="resource-totals"
      data-cpu={totals.cpuPercent.toFixed(1)}
      data-net={totals.receivedBytes + totals.sentBytes}
    >
      All VMs: CPU {Math.round(totals.cpuPercent)} % of a core · memory {formatMiB(totals.memoryUsedBytes)} in use · disk {formatMiB(totals.downloadedBytes)} downloaded,{' '}
      {formatMiB(totals.writtenBytes)} written · network {formatMiB(totals.receivedBytes)} received,{' '}
      {formatMiB(totals.sentBytes)} sent
    </p>
  );
}
