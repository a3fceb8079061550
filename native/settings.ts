// The kernel collector's settings: declared here, next to the collector they size, and spread
// into the agent's settings table. openKernelCollector takes its defaults from this table too,
// so a collector opened by a test or a benchmark is sized like the agent's.
import { defaultsOf, type SettingsTable } from '../common/config.js';
import { HOOK_MODES } from './types.js';

export const KERNEL_SETTINGS = {
  flow_map_entries: { doc: 'kernel flow map size', format: 'nat', min: 1, default: 65_536 },
  ring_buffer_size: { doc: 'kernel ring buffer size (power of two)', format: 'size', min: 1, default: 8 * 1024 ** 2 },
  hook_mode: {
    doc: `kernel hook flavour: ${HOOK_MODES.join(', ')} (auto: the best this kernel has, per hook; a forced flavour the kernel lacks leaves those hooks unattached, with the reason)`,
    format: HOOK_MODES,
    default: 'auto',
  },
} satisfies SettingsTable;

export const KERNEL_DEFAULTS = defaultsOf(KERNEL_SETTINGS);
