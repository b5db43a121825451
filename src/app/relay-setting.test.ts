import { describe, expect, it } from 'vitest';
import type { RelaySetting } from '../controller/page-network.ts';
import { loadRelaySetting, saveRelaySetting } from './relay-setting.ts';

function memoryStorage(): Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => void map.set(key, value),
    removeItem: (key) => void map.delete(key),
  };
}

describe('the relay setting', () => {
  it('is stored, applied and read back; cleared, it is gone', () => {
    const storage = memoryStorage();
    const applied: (RelaySetting | undefined)[] = [];
    const apply = (setting: RelaySetting | undefined) => void applied.push(setting);
    expect(loadRelaySetting(storage)).toBeUndefined();
    expect(saveRelaySetting({ url: 'ws://127.0.0.1:8765/', everything: true }, storage, apply)).toBeUndefined();
    expect(loadRelaySetting(storage)).toEqual({ url: 'ws://127.0.0.1:8765/', everything: true });
    expect(saveRelaySetting(undefined, storage, apply)).toBeUndefined();
    expect(loadRelaySetting(storage)).toBeUndefined();
    expect(applied).toEqual([{ url: 'ws://127.0.0.1:8765/', everything: true }, undefined]);
  });

  it('refuses a URL that is not ws:// or wss:// with a sentence, keeping what was stored', () => {
    const storage = memoryStorage();
    const applied: (RelaySetting | undefined)[] = [];
    saveRelaySetting({ url: 'wss://relay.example/', everything: false }, storage, (s) => void applied.push(s));
    expect(
      saveRelaySetting({ url: 'https://relay.example/', everything: false }, storage, (s) => void applied.push(s)),
    ).toBe("a relay's URL starts with ws:// or wss://, not https://");
    expect(loadRelaySetting(storage)).toEqual({ url: 'wss://relay.example/', everything: false });
    expect(applied).toHaveLength(1);
  });

  it('ignores a stored value it cannot read', () => {
    const storage = memoryStorage();
    for (const value of ['{', '"ws://x/"', '{"url":"http://x/","everything":false}', '{"url":"ws://x/"}', 'null']) {
      storage.map.set('tabvm.relay', value);
      expect(loadRelaySetting(storage), value).toBeUndefined();
    }
  });
});
