/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * procflow.h: every record that crosses the kernel boundary.
 *
 * Included by the BPF programs (bpf/procflow.bpf.c, with vmlinux.h already included)
 * and by the native addon (native/src, with <linux/types.h>). Nothing here
 * may depend on kernel-internal types. This header is the only declaration of
 * the layout: `npm run gen:layout` (run by native/build.sh) reads the compiled
 * object's BTF and writes the TypeScript decoder's sizes, offsets and constants
 * (native/layout.generated.ts) and the addon's compile-time checks of them.
 *
 * Constants user space needs are enums, not #defines: BTF carries enums, not
 * macros. struct pf_records (at the end) names what the generator emits.
 *
 * Conventions: times are CLOCK_BOOTTIME ns; addresses are 16 bytes in network
 * order (IPv4 in the first 4 bytes); ports are in host order.
 */
#ifndef PROCFLOW_H
#define PROCFLOW_H

enum pf_limit {
	PF_COMM_LEN = 16,
	PF_PATH_MAX = 256,   /* filename and cwd, NUL included */
	PF_ARGS_MAX = 4096,  /* argument bytes per exec (power of two) */
	PF_DNS_MAX = 2048,   /* DNS message bytes copied per packet (power of two) */
	PF_UNIX_PATH_MAX = 108, /* sun_path of a unix socket address */
};

/* Address families of pf_flow_key.family (the kernel's AF_* values). */
enum pf_family {
	PF_AF_UNIX = 1,      /* a local resolver's socket (pf_dns_event only) */
	PF_AF_INET = 2,
	PF_AF_INET6 = 10,
};

#define PF_PROTO_TCP 6
#define PF_PROTO_UDP 17

/* Kinds of process events on the ring buffer. */
enum pf_event_kind {
	PF_EVENT_EXEC = 1,
	PF_EVENT_FORK = 2,
	PF_EVENT_EXIT = 3,
	PF_EVENT_DNS = 4,
};

/* Partial failures while building an exec event: the event is still sent. */
enum pf_event_error {
	EVENT_ERROR_FILENAME = 1 << 0,  /* binprm filename unreadable */
	EVENT_ERROR_ARGS = 1 << 1,      /* argument area unreadable */
	EVENT_ERROR_CWD = 1 << 2,       /* cwd unreadable */
	EVENT_ERROR_CWD_DEPTH = 1 << 3, /* cwd deeper than the walk limit (prefix lost) */
	EVENT_ERROR_CWD_LONG = 1 << 4,  /* cwd longer than PF_PATH_MAX (prefix lost) */
	EVENT_ERROR_PARENT = 1 << 5,    /* parent task unreadable */
	EVENT_ERROR_CGROUP = 1 << 6,    /* cgroup id unreadable */
	EVENT_ERROR_CREDS = 1 << 7,     /* credentials unreadable */
	EVENT_ERROR_NS = 1 << 8,        /* namespaces unreadable (only when they are asked for) */
};

/* Slots of pf_exec_event.ns: inode numbers of the task's namespaces, 0 when not read. */
enum pf_ns_slot {
	PF_NS_UTS = 0,
	PF_NS_IPC = 1,
	PF_NS_MNT = 2,
	PF_NS_PID = 3,
	PF_NS_PID_FOR_CHILDREN = 4,
	PF_NS_NET = 5,
	PF_NS_TIME = 6,               /* 5.6 on */
	PF_NS_TIME_FOR_CHILDREN = 7,  /* 5.6 on */
	PF_NS_CGROUP = 8,
	PF_NS_USER = 9,
	PF_NS_COUNT = 10,
};

/* The "no audit login" value of loginuid (AUDIT_UID_UNSET). */
enum pf_audit {
	PF_AUID_UNSET = 0xffffffff,
};

/* Common head of every ring buffer record. */
struct pf_event_header {
	__u32 kind;          /* enum pf_event_kind */
	__u32 size;          /* bytes of the whole record */
	__u64 time_ns;       /* when the kernel saw it */
	__u32 pid;           /* tgid */
	__u32 ppid;          /* parent's tgid */
	__u64 start_ns;      /* group leader's start_boottime */
	char comm[PF_COMM_LEN];
};

struct pf_exec_event {
	struct pf_event_header hdr;
	__u64 parent_start_ns;
	__u64 cgroup_id;
	__u32 uid;           /* real ids */
	__u32 gid;
	__u32 euid;          /* effective, saved and filesystem ids */
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 auid;          /* audit login uid; PF_AUID_UNSET when none */
	__u32 error_flags;   /* enum pf_event_error bits */
	__u64 cap_permitted; /* capability sets, bit n = capability n */
	__u64 cap_effective;
	__u64 cap_inheritable;
	__u32 ns[PF_NS_COUNT]; /* enum pf_ns_slot; filled when cfg_exec_namespaces is set */
	__u32 args_len;      /* valid bytes in args: NUL-separated argv */
	__u16 filename_len;  /* without the NUL */
	__u16 cwd_len;       /* without the NUL */
	__u8 args_truncated; /* 1 when the argument area was longer than captured */
	__u8 pad[3];
	char filename[PF_PATH_MAX];
	char cwd[PF_PATH_MAX];
	char args[PF_ARGS_MAX];
};

struct pf_fork_event {
	struct pf_event_header hdr;
	__u64 parent_start_ns;
};

struct pf_exit_event {
	struct pf_event_header hdr;
	__u32 exit_code;     /* WEXITSTATUS when exited normally */
	__u32 signal;        /* terminating signal, 0 when exited normally */
};

/* Which way a captured DNS packet went, seen from the socket of the process that asked. */
enum pf_dns_direction {
	PF_DNS_QUERY = 1,    /* egress to the server port: a query (or a TCP segment of one) */
	PF_DNS_RESPONSE = 2, /* ingress from the server port: a response */
};

/*
 * Where a DNS record came from: packets (lib/dns.h), or a local resolver's
 * unix socket (lib/dns-local.h), whose protocol the channel names.
 */
enum pf_dns_channel {
	PF_DNS_CHANNEL_NET = 0,     /* a DNS message over UDP or TCP */
	PF_DNS_CHANNEL_NSCD = 1,    /* glibc's nscd protocol */
	PF_DNS_CHANNEL_VARLINK = 2, /* systemd-resolved's io.systemd.Resolve (varlink: NUL-ended JSON) */
};

/*
 * One DNS packet's payload (UDP: the message; TCP: a segment, length prefixes
 * included), captured by the cgroup skb programs on the cgroup v2 root. The
 * header names the process that owns the socket (from pf_dns_socks, filled
 * when it connected or sent to the server port); pid 0 when unknown.
 */
struct pf_dns_event {
	struct pf_event_header hdr;
	__u64 cookie;          /* socket cookie: one client socket's packets share it */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;           /* enum pf_family (PF_AF_UNIX: a local resolver's socket, no addresses) */
	__u8 proto;            /* PF_PROTO_UDP or PF_PROTO_TCP; 0 for a unix socket */
	__u8 direction;        /* enum pf_dns_direction */
	__u8 channel;          /* enum pf_dns_channel */
	__u32 payload_len;     /* bytes of the payload on the wire */
	__u32 captured_len;    /* bytes in payload (at most PF_DNS_MAX) */
	__u32 pad2;
	char payload[PF_DNS_MAX];
};

/* Which side of the connection the local socket is on. */
enum pf_role {
	PF_ROLE_UNKNOWN = 0,
	PF_ROLE_CLIENT = 1,
	PF_ROLE_SERVER = 2,
};

/* Key of the flow map: the 5-tuple seen from the local socket, plus its owner. */
struct pf_flow_key {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u32 tgid;
	__u8 family;         /* enum pf_family */
	__u8 proto;          /* PF_PROTO_TCP or PF_PROTO_UDP */
	__u8 pad[6];
};

/* Counters of one flow since user space last drained it. */
struct pf_flow_value {
	__u64 bytes_out;
	__u64 bytes_in;
	__u64 packets_out;
	__u64 packets_in;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 pid_start_ns;
	__u32 tcp_started;
	__u32 tcp_completed;
	/* Latest TCP stats read from struct tcp_sock. */
	__u32 srtt_us;
	__u32 min_rtt_us;
	__u32 cwnd;
	__u32 mss;
	__u32 retransmits;
	__u32 lost;
	__u8 role;           /* enum pf_role */
	__u8 pad[7];
	char comm[PF_COMM_LEN];
};

/* Slots of the per-CPU counters map; user space sums the CPUs. */
enum pf_counter {
	PF_CTR_EVENTS_LOST = 0,   /* ring buffer reservations that failed */
	PF_CTR_FLOW_MAP_FULL = 1, /* flow insertions refused: map full */
	PF_CTR_SOCK_MAP_FULL = 2, /* socket-state insertions refused */
	PF_CTR_EXEC_SEEN = 3,     /* exec events produced (sent or lost) */
	PF_CTR_FLOW_UPDATES = 4,  /* flow accounting calls */
	PF_CTR_DNS_SEEN = 5,      /* DNS packets captured (sent or lost) */
	PF_CTR_DNS_CUT = 6,       /* DNS packets longer than PF_DNS_MAX (tail not copied) */
	PF_CTR_MAX = 8,
};

/*
 * What user space decodes: each record type and each enum whose constants it
 * needs. BTF only carries the types a global or a program signature names, so
 * the BPF object holds a (never read) pointer to this struct, pf_records_btf
 * in bpf/procflow.bpf.c; nothing ever allocates one. Members are values, not
 * pointers: clang emits a struct behind a member pointer as a bare forward
 * declaration. npm run gen:layout (native/btf/gen-layout.ts) emits the struct
 * or enum each member names, under its C name. A new record type is one member
 * here; a new field of a record needs nothing here.
 */
struct pf_records {
	struct pf_event_header event_header;
	struct pf_exec_event exec_event;
	struct pf_fork_event fork_event;
	struct pf_exit_event exit_event;
	struct pf_dns_event dns_event;
	struct pf_flow_key flow_key;
	struct pf_flow_value flow_value;
	enum pf_limit limit;
	enum pf_family family;
	enum pf_event_kind event_kind;
	enum pf_event_error event_error;
	enum pf_role role;
	enum pf_dns_direction dns_direction;
	enum pf_dns_channel dns_channel;
	enum pf_ns_slot ns_slot;
	enum pf_audit audit;
};

#endif /* PROCFLOW_H */
