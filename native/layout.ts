// The TypeScript mirror of bpf/procflow.h: sizes and byte offsets of every record that crosses
// the kernel boundary. test/kernel/layout.test.ts checks these against the addon's
// sizeof/offsetof values, so a change to the C header that is not made here fails a test.

export const PF_COMM_LEN = 16;
export const PF_PATH_MAX = 256;
export const PF_ARGS_MAX = 4096;

export const PF_EVENT_EXEC = 1;
export const PF_EVENT_FORK = 2;
export const PF_EVENT_EXIT = 3;

export const EVENT_ERROR_FILENAME = 1 << 0;
export const EVENT_ERROR_ARGS = 1 << 1;
export const EVENT_ERROR_CWD = 1 << 2;
export const EVENT_ERROR_CWD_DEPTH = 1 << 3;
export const EVENT_ERROR_CWD_LONG = 1 << 4;
export const EVENT_ERROR_PARENT = 1 << 5;
export const EVENT_ERROR_CGROUP = 1 << 6;

export interface RecordLayout {
  size: number;
  offsets: Record<string, number>;
}

export const LAYOUT = {
  pf_event_header: {
    size: 48,
    offsets: { kind: 0, size: 4, time_ns: 8, pid: 16, ppid: 20, start_ns: 24, comm: 32 },
  },
  pf_exec_event: {
    size: 4696,
    offsets: {
      parent_start_ns: 48,
      cgroup_id: 56,
      uid: 64,
      gid: 68,
      error_flags: 72,
      args_len: 76,
      filename_len: 80,
      cwd_len: 82,
      args_truncated: 84,
      filename: 88,
      cwd: 344,
      args: 600,
    },
  },
  pf_fork_event: { size: 56, offsets: { parent_start_ns: 48 } },
  pf_exit_event: { size: 56, offsets: { exit_code: 48, signal: 52 } },
  pf_flow_key: {
    size: 48,
    offsets: { local_addr: 0, remote_addr: 16, local_port: 32, remote_port: 34, tgid: 36, family: 40, proto: 41 },
  },
  pf_flow_value: {
    size: 112,
    offsets: {
      bytes_out: 0,
      bytes_in: 8,
      packets_out: 16,
      packets_in: 24,
      first_seen_ns: 32,
      last_seen_ns: 40,
      pid_start_ns: 48,
      tcp_started: 56,
      tcp_completed: 60,
      srtt_us: 64,
      min_rtt_us: 68,
      cwnd: 72,
      mss: 76,
      retransmits: 80,
      lost: 84,
      role: 88,
      comm: 96,
    },
  },
} as const satisfies Record<string, RecordLayout>;

/** Records in a drained flow buffer: key and value, each padded to 8 bytes. */
export const FLOW_RECORD_SIZE = pad8(LAYOUT.pf_flow_key.size) + pad8(LAYOUT.pf_flow_value.size);

export function pad8(n: number): number {
  return (n + 7) & ~7;
}
