// The kernel collector's settings: declared here, next to the collector they size, and spread
// into the agent's settings table. openKernelCollector takes its defaults from this table too,
// so a collector opened by a test or a benchmark is sized like the agent's.
import { defaultsOf, type SettingsTable } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { DNS_LOCAL_MODES, HOOK_MODES } from './types.js';

export const KERNEL_SETTINGS = {
  flow_map_entries: { doc: 'kernel flow map size', format: 'nat', min: 1, default: 65_536 },
  socket_map_entries: {
    doc: 'open TCP sockets whose state the kernel keeps (owner, role, segment baselines; about 120 B each); keep it well above the sockets a node holds open, as the table starts evicting the least recently used before it is full: such a socket\'s role is then guessed from the ports and its close not counted in num_flows_completed',
    format: 'nat',
    min: 1024,
    default: 65_536,
  },
  ring_buffer_size: { doc: 'kernel ring buffer size (power of two)', format: 'size', min: 1, default: 8 * 1024 ** 2 },
  hook_mode: {
    doc: `kernel hook flavour: ${HOOK_MODES.join(', ')} (auto: the best this kernel has, per hook; a forced flavour the kernel lacks leaves those hooks unattached, with the reason)`,
    format: HOOK_MODES,
    default: 'auto',
  },
  dns_local: {
    doc: 'lookups that processes hand to a local resolver over its unix socket (nscd, systemd-resolved\'s varlink service; see --dns-local-sockets): auto (fentry or kprobes on unix_stream_sendmsg/recvmsg, else not seen), syscalls (also syscall tracepoints where neither exists: every syscall of every task then pays tens of ns), off; needs --dns',
    format: DNS_LOCAL_MODES,
    default: 'auto',
  },
  dns_local_sockets: {
    doc: 'the local resolver sockets whose lookups are captured, as PROTOCOL:PATH (protocol nscd or varlink), comma separated',
    format: Array,
    default: ['nscd:/run/nscd/socket', 'nscd:/var/run/nscd/socket', 'varlink:/run/systemd/resolve/io.systemd.Resolve'],
  },
} satisfies SettingsTable;

export const KERNEL_DEFAULTS = defaultsOf(KERNEL_SETTINGS);

/** --dns-local-sockets as the kernel collector takes them; a ConfigError names a bad entry. */
export function dnsLocalSockets(list: readonly string[]): { path: string; protocol: 'nscd' | 'varlink' }[] {
  if (list.length > 16) throw new ConfigError(`--dns-local-sockets names ${list.length} sockets; at most 16`);
  return list.map((entry) => {
    const m = /^(nscd|varlink):(\/.*)$/.exec(entry);
    if (!m || Buffer.byteLength(m[2]!) > 107) {
      throw new ConfigError(`--dns-local-sockets entry ${JSON.stringify(entry)} is not PROTOCOL:PATH`,
        'write nscd:/run/nscd/socket or varlink:/run/systemd/resolve/io.systemd.Resolve: an absolute path of at most 107 bytes');
    }
    return { protocol: m[1] as 'nscd' | 'varlink', path: m[2]! };
  });
}
