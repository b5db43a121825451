/** The VM library in the sidebar: each VM's name, image, RAM, state, uptime and speed. */
import { useSyncExternalStore } from 'react';
import type { VmEntry } from './library.ts';
import { formatUptime, stateLabel } from './format.ts';

const ELSEWHERE = { text: 'Running in another tab', tone: 'busy' } as const;

interface Props {
  readonly entries: readonly VmEntry[];
  readonly selectedId: string | null;
  readonly onSelect: (id: string) => void;
  /** VMs another tab runs. */
  readonly elsewhere: ReadonlySet<string>;
}

export function VmList({ entries, selectedId, onSelect, elsewhere }: Props) {
  return (
    <ul className="vm-list" aria-label="Virtual machines">
      {entries.map((entry) => (
        <VmListItem
          key={entry.definition.id}
          entry={entry}
          selected={entry.definition.id === selectedId}
          onSelect={onSelect}
          elsewhere={elsewhere.has(entry.definition.id)}
        />
      ))}
    </ul>
  );
}

function VmListItem({
  entry,
  selected,
  onSelect,
  elsewhere,
}: {
  entry: VmEntry;
  selected: boolean;
  onSelect: (id: string) => void;
  elsewhere: boolean;
}) {
  const view = useSyncExternalStore(entry.controller.subscribe, entry.controller.getView);
  const { definition } = entry;
  const state = elsewhere && !['running', 'paused'].includes(view.phase) ? ELSEWHERE : stateLabel(view);
  const live = view.phase === 'running' || view.phase === 'paused';
  return (
    <li>
      <button
        type="button"
        className="vm-item"
        aria-current={selected ? 'true' : undefined}
        data-testid={`vm-item-${definition.name}`}
        data-phase={view.phase}
        data-elsewhere={elsewhere ? 'true' : undefined}
        onClick={() => onSelect(definition.id)}
      >
        <span className="vm-item-top">
          <span className="vm-name">{definition.name}</span>
          <span className={`badge tone-${state.tone}`}>{state.text}</span>
        </span>
        <span className="vm-meta">
          {definition.image} · {definition.ramMiB} MiB
        </span>
        <span className="vm-meta">
          {live ? (
            <>
              up {formatUptime(view.uptimeMs)} · {view.mips.toFixed(1)} MIPS
            </>
          ) : (
            <>&nbsp;</>
          )}
        </span>
      </button>
    </li>
  );
}
