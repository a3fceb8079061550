/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Maps shared by every program in procflow.bpf.c, and load-time settings. */
#ifndef PF_LIB_MAPS_H
#define PF_LIB_MAPS_H

/* Set by the loader between open and load (rodata), never looked up per event. */
const volatile __u32 cfg_max_args = PF_ARGS_MAX;
const volatile __u32 cfg_ignore_tgid = 0;
/* Wake the poller only past this backlog; it also polls on a short timer. */
const volatile __u64 cfg_wakeup_bytes = 1 << 20;
/*
 * Set when every TCP receive hook is given its byte count (tp_btf, classic
 * tracepoint, or fexit with a return value): a closed socket's state is then
 * dropped at the close (see pf_tcp_state).
 */
const volatile __u8 cfg_forget_closed = 0;
/* Parameters of udp_recvmsg/udpv6_recvmsg in this kernel: 6 before 5.19, 5 after. */
const volatile __u32 cfg_udp_recv_args = 5;
/* The same for tcp_recvmsg (DNS per message, lib/dns-msg.h). */
const volatile __u32 cfg_tcp_recv_args = 5;
/* The DNS server port: packets to it (egress) and from it (ingress) are captured. */
const volatile __u16 cfg_dns_port = 53;
/* Read the task's namespaces at exec (opt-in: about 20 more reads per exec). */
const volatile __u8 cfg_exec_namespaces = 0;

/* Process events to user space; size set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} pf_events SEC(".maps");

/*
 * In-kernel flow aggregation, double-buffered: programs write to the map
 * pf_flow_index names. User space drains by flipping the index, waiting for
 * every program that may have read the old one (pf_flow_sync), then reading
 * out the retired map, which nothing writes to any more. Deleting from a
 * live map instead lets a program add to an element already copied out and
 * freed, or recycled for another flow: bytes lost, or credited to a
 * different connection.
 */
struct pf_flow_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pf_flow_key);
	__type(value, struct pf_flow_value);
} pf_flows_a SEC(".maps"), pf_flows_b SEC(".maps");

/* 0: pf_flows_a, 1: pf_flows_b. Written by user space (mmapped .bss). */
__u32 pf_flow_index = 0;

/*
 * Never used by a program: updating a map-in-map makes the kernel wait for
 * all running BPF programs (synchronize_rcu) before the syscall returns,
 * which is the grace period the index flip needs.
 */
struct pf_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pf_sync_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct pf_sync_inner);
} pf_flow_sync SEC(".maps") = {
	.values = { [0] = &pf_sync_inner },
};

/* Per-socket TCP state: owner, role, and segment baselines for packet deltas. */
struct pf_sock_state {
	__u32 owner_tgid;
	__u32 segs_out;
	__u32 segs_in;
	__u8 role;
	__u8 start_pending;  /* established, not yet credited to a flow */
	__u8 closed;         /* saw TCP_CLOSE; kept for late reads, LRU frees it */
	__u8 seq_valid;      /* copied_seq holds a baseline */
	/*
	 * tcp_sock.copied_seq when receives were last credited (kprobe/fentry on
	 * tcp_cleanup_rbuf): its advance is the bytes the application consumed,
	 * however often the kernel calls the hook within one recvmsg.
	 */
	__u32 copied_seq;
	__u8 fin_read;       /* the FIN's sequence number was taken out of the advance */
	/*
	 * pf_flow_index + 1 of the flow map this socket's flow was last found in
	 * or put in (0: none yet). Otherwise its flow is most likely not in the
	 * live map: the first bytes, or a drain since.
	 */
	__u8 flow_live;
	__u8 pad2[2];
	__u64 owner_start_ns;
	__u64 stats_ns;      /* when TCP stats were last copied */
	char owner_comm[PF_COMM_LEN];
};

/*
 * Per-socket TCP state of every flavour, keyed by the socket's address
 * (lib/flow.h); sized by the loader (--socket-map-entries).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock address */
	__type(value, struct pf_sock_state);
} pf_socks SEC(".maps");

/* A peer address read from a sockaddr (unconnected UDP). */
struct pf_peer {
	__u8 addr[16];
	__u16 port;
	__u8 family;
	__u8 valid;
};

/*
 * Per-thread stash between the entry and the exit of a call: the peer from a
 * cgroup sock_addr program, or (syscall tracepoint fallback) the user
 * sockaddr of sendto/recvfrom/sendmsg/recvmsg (unconnected UDP has no peer in
 * the socket), or the socket and length of a pending UDP receive.
 */
struct pf_stash {
	/*
	 * Peers handed over by the cgroup sock_addr programs (sendmsg4/6 before
	 * the send, recvmsg4/6 before the receive returns); consumed by the next
	 * socket I/O hook of the same thread.
	 */
	struct pf_peer send_peer;
	struct pf_peer recv_peer;
	__u64 send_addr;     /* user pointer to the destination sockaddr */
	__u64 recv_addr;     /* user pointer to where the source sockaddr goes */
	__u64 recv_msghdr;   /* user pointer to the msghdr (recvmsg) */
	__u64 sk;            /* socket of a pending receive */
	__u64 kmsg;          /* kernel msghdr (kprobe path) */
	__s32 len;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pf_stash);
} pf_stash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PF_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pf_counters SEC(".maps");

/* Scratch space too big for the 512-byte stack. */
#define PF_SCRATCH 1024
/* Only exec uses it (process context, never nested): flow accounting keeps its key on the stack. */
struct pf_heap {
	char path[PF_SCRATCH * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pf_heap);
} pf_heap SEC(".maps");

static __always_inline void pf_count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&pf_counters, &slot);

	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

/*
 * Submit flags: a wakeup per event costs an irq_work (an IPI, slow in VMs),
 * so only a backlog wakes the poller early.
 */
static __always_inline __u64 pf_rb_flags(void)
{
	if (bpf_ringbuf_query(&pf_events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * The live flow map (see pf_flow_index), read once per program run: a flip
 * between a program's insert and its lookup would otherwise send them to
 * different halves, and the bytes to neither. One call site per map, so the
 * verifier can still inline each hash lookup.
 */
static __always_inline __u32 pf_flows_live(void)
{
	return *(volatile __u32 *)&pf_flow_index;
}

static __always_inline struct pf_flow_value *pf_flows_lookup(__u32 live, const struct pf_flow_key *key)
{
	if (live)
		return bpf_map_lookup_elem(&pf_flows_b, key);
	return bpf_map_lookup_elem(&pf_flows_a, key);
}

static __always_inline long pf_flows_insert(__u32 live, const struct pf_flow_key *key,
					    const struct pf_flow_value *value)
{
	if (live)
		return bpf_map_update_elem(&pf_flows_b, key, value, BPF_NOEXIST);
	return bpf_map_update_elem(&pf_flows_a, key, value, BPF_NOEXIST);
}

static __always_inline struct pf_heap *pf_get_heap(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pf_heap, &zero);
}

#endif
