import type { VmView } from '../controller/vm-controller.ts';

export function formatUptime(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** How long "Rebooting" stays on the state after the guest reset itself. */
const REBOOT_LABEL_MS = 4000;

/** The word for a VM's state in the list and the toolbar. */
export function stateLabel(view: VmView, now = performance.now()): { text: string; tone: 'off' | 'busy' | 'on' | 'paused' | 'error' } {
  switch (view.phase) {
    case 'stopped':
      return { text: 'Stopped', tone: 'off' };
    case 'downloading':
      return { text: 'Downloading', tone: 'busy' };
    case 'starting':
      return { text: 'Starting', tone: 'busy' };
    case 'paused':
      return { text: 'Paused', tone: 'paused' };
    case 'error':
      return { text: view.error?.kind === 'panic' ? 'Crashed' : 'Error', tone: 'error' };
    case 'running':
      if (view.rebootedAt !== undefined && now - view.rebootedAt < REBOOT_LABEL_MS) return { text: 'Rebooting', tone: 'busy' };
      return { text: view.idle ? 'Running · idle' : 'Running', tone: 'on' };
  }
}
