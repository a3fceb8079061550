/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Typed reads on the flow path: plain loads the verifier checks against the kernel's BTF
 * (a few ns each) instead of probe-read helper calls (about 20 ns each), where the kernel
 * has the helper that hands out a typed pointer. Each helper's existence is a CO-RE
 * relocation against the kernel's enum bpf_func_id, so a kernel without it keeps the probe
 * reads and the verifier never sees the call it would refuse.
 */
#ifndef PF_LIB_TYPED_H
#define PF_LIB_TYPED_H

/* The current task's start time (its leader's, as pf_task_start_ns) and comm. */
static __always_inline __u64 pf_current_owner(char *comm, bool btf)
{
	bpf_get_current_comm(comm, PF_COMM_LEN);
	/* 5.11+: bpf_get_current_task_btf */
	if (btf && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return bpf_get_current_task_btf()->group_leader->start_boottime;
	return pf_task_start_ns((struct task_struct *)bpf_get_current_task());
}

/*
 * The socket as a typed tcp_sock, for programs whose `sk` is a BTF pointer (`btf`);
 * NULL elsewhere (a constant: the probe-read branch of PF_TCP is all that is left) or when
 * the kernel says it is not a full TCP socket.
 */
static __always_inline struct tcp_sock *pf_tcp_typed(struct sock *sk, bool btf)
{
	/* 5.9+: bpf_skc_to_tcp_sock */
	if (btf && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_skc_to_tcp_sock))
		return bpf_skc_to_tcp_sock(sk);
	return NULL;
}

/* A tcp_sock field: through the typed pointer when there is one, else a CO-RE probe read. */
#define PF_TCP(tpb, sk, field) ((tpb) ? (tpb)->field : BPF_CORE_READ((struct tcp_sock *)(sk), field))

#endif
