/**
 * The user-mode network the headless runner plugs a VM's network card into with `--net user` (QEMU's
 * `-nic user`): undefined while this tabvm has none, and then `--net` defaults to `none`.
 */
import type { NetworkHook } from '../../workers/protocol/net-link.ts';

export const userNetwork: NetworkHook | undefined = undefined;
