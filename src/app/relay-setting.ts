/**
 * The app's relay setting (docs/networking.md, "The relay"): one for the page, since the page's VMs share
 * one network, kept in localStorage beside the app's other settings. What is stored is read back through
 * a schema: a value some other version or a hand edit left is ignored, never trusted.
 */
import { z } from 'zod';
import { relayUrlProblem, setPageRelay, type RelaySetting } from '../controller/page-network.ts';

const RELAY_SETTING_KEY = 'tabvm.relay';

const RelaySettingSchema = z.object({
  url: z.string().refine((url) => relayUrlProblem(url) === undefined),
  everything: z.boolean(),
});

/** The stored setting, or none (never set, cleared, or not readable). */
export function loadRelaySetting(storage: Pick<Storage, 'getItem'> = localStorage): RelaySetting | undefined {
  const stored = storage.getItem(RELAY_SETTING_KEY);
  if (stored === null) return undefined;
  try {
    const parsed = RelaySettingSchema.safeParse(JSON.parse(stored));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks, stores and applies a setting (`undefined` clears it): returns the sentence that says what is
 * wrong with the URL instead, storing nothing.
 */
export function saveRelaySetting(
  setting: RelaySetting | undefined,
  storage: Pick<Storage, 'setItem' | 'removeItem'> = localStorage,
  apply: (setting: RelaySetting | undefined) => void = setPageRelay,
): string | undefined {
  if (setting) {
    const problem = relayUrlProblem(setting.url);
    if (problem) return problem;
    storage.setItem(RELAY_SETTING_KEY, JSON.stringify({ url: setting.url, everything: setting.everything }));
  } else {
    storage.removeItem(RELAY_SETTING_KEY);
  }
  apply(setting);
  return undefined;
}
