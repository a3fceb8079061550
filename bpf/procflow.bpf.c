// SPDX-License-Identifier: GPL-2.0-only
/*
 * procflow kernel programs. Every logical hook has several flavours; the
 * loader (native/src/HookPlanner.cc) turns autoload on for the one it picks
 * per hook, so only that one is verified and attached:
 *
 *   exec/exit        tp_btf/sched_*            > tracepoint/sched/sched_*
 *   fork             tp_btf/sched_process_fork > raw_tp/...            > tracepoint/sched/...
 *   tcp/udp send     tp_btf/sock_send_length   > tracepoint/sock/...   > fexit > kprobe: tcp_sendmsg, udp(v6)_sendmsg
 *   tcp/udp recv     tp_btf/sock_recv_length   > tracepoint/sock/...   > fentry/fexit > kprobe:
 *                    tcp_cleanup_rbuf, udp(v6)_recvmsg
 *   tcp state        tp_btf/inet_sock_set_state > tracepoint/sock/inet_sock_set_state
 *   udp peer         cgroup/{sendmsg,recvmsg}{4,6} on the cgroup v2 root
 *                    > tracepoint/syscalls/sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg}
 *   dns              fentry: ip(6)_send_skb, udp(v6)_recvmsg + skb_consume_udp, tcp_sendmsg, tcp_recvmsg (+ fexit)
 *                    > cgroup_skb/{egress,ingress} + cgroup/{connect,sendmsg}{4,6} on the cgroup v2 root
 *   dns_local        fentry/fexit > kprobe/kretprobe: unix_stream_{sendmsg,recvmsg}
 *                    > tracepoint/syscalls (connect, close, read/write family; only when asked)
 *
 * Program names start with "pf_" (at most 15 characters) so a detach check
 * can look for leftovers by prefix.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "procflow.h"
#include "lib/maps.h"
#include "lib/task.h"
#include "lib/typed.h"
#include "lib/flow.h"
#include "lib/dns.h"
#include "lib/dns-local.h"
#include "lib/dns-msg.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * Puts every record type user space decodes into this object's BTF, where
 * npm run gen:layout reads them (see struct pf_records). No program reads it:
 * 8 bytes of .rodata.
 */
struct pf_records *const pf_records_btf = 0;

/* ---- process lifecycle ---------------------------------------------------- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pf_tpb_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return pf_emit_exec(p, bprm->filename, true);
}

SEC("tracepoint/sched/sched_process_exec")
int pf_tp_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	unsigned short off = ctx->__data_loc_filename & 0xffff;

	return pf_emit_exec((struct task_struct *)bpf_get_current_task(), (const char *)ctx + off, false);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pf_tpb_fork, struct task_struct *parent, struct task_struct *child)
{
	return pf_emit_fork(parent, child, true);
}

/* Untyped raw tracepoint: the same task pointers, read through CO-RE probes. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(pf_rtp_fork, struct task_struct *parent, struct task_struct *child)
{
	return pf_emit_fork(parent, child, false);
}

/*
 * The classic tracepoint only has pids and comm: a CLONE_THREAD child cannot
 * be told from a process here, so threads show up as forks too (user space
 * drops forks whose pid never execs or exits as a process).
 */
SEC("tracepoint/sched/sched_process_fork")
int pf_tp_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	/* The parent is current. */
	struct task_struct *parent = (struct task_struct *)bpf_get_current_task();
	__u32 child_pid = ctx->child_pid;
	struct pf_fork_event *ev;

	if (child_pid == 0)
		return 0;
	ev = bpf_ringbuf_reserve(&pf_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count(PF_CTR_EVENTS_LOST);
		return 0;
	}
	pf_fill_header(&ev->hdr, PF_EVENT_FORK, sizeof(*ev), parent, false);
	ev->hdr.ppid = ev->hdr.pid;
	ev->hdr.pid = child_pid;
	/* Unknown here; user space fills it from the exec or /proc. */
	ev->hdr.start_ns = 0;
	ev->parent_start_ns = pf_task_start_ns(parent);
	bpf_ringbuf_submit(ev, pf_rb_flags());
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pf_tpb_exit, struct task_struct *p)
{
	return pf_emit_exit(p, true);
}

SEC("tracepoint/sched/sched_process_exit")
int pf_tp_exit(void *ctx)
{
	return pf_emit_exit((struct task_struct *)bpf_get_current_task(), false);
}

/* ---- socket I/O: tracepoints (6.3+) --------------------------------------- */

static __always_inline int pf_on_send(struct sock *sk, int ret, bool btf)
{
	if (ret <= 0 || !sk)
		return 0;
	return pf_account(sk, ret, PF_DIR_OUT, NULL, PF_PEER_SEND_STASH, btf);
}

/*
 * Receives on unconnected UDP sockets learn the peer only when the syscall
 * copies the source address out: pf_account parks them until sys_exit_recv*.
 */
static __always_inline int pf_on_recv(struct sock *sk, int ret, int flags, bool btf)
{
	if (ret <= 0 || !sk || (flags & PF_MSG_PEEK))
		return 0;
	return pf_account(sk, ret, PF_DIR_IN, NULL, PF_PEER_RECV_PARK, btf);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(pf_tpb_send, struct sock *sk, int ret, int flags)
{
	return pf_on_send(sk, ret, true);
}

SEC("tracepoint/sock/sock_send_length")
int pf_tp_send(struct trace_event_raw_sock_msg_length *ctx)
{
	return pf_on_send((struct sock *)ctx->sk, ctx->ret, false);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(pf_tpb_recv, struct sock *sk, int ret, int flags)
{
	return pf_on_recv(sk, ret, flags, true);
}

SEC("tracepoint/sock/sock_recv_length")
int pf_tp_recv(struct trace_event_raw_sock_msg_length *ctx)
{
	return pf_on_recv((struct sock *)ctx->sk, ctx->ret, ctx->flags, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(pf_tpb_state, struct sock *sk, int oldstate, int newstate)
{
	/* Most transitions carry nothing for us: decide on the ints first. */
	if (newstate != PF_TCP_SYN_SENT && newstate != PF_TCP_ESTABLISHED && newstate != PF_TCP_CLOSE)
		return 0;
	if (sk->sk_protocol != PF_PROTO_TCP)
		return 0;
	return pf_tcp_state(sk, oldstate, newstate, true);
}

SEC("tracepoint/sock/inet_sock_set_state")
int pf_tp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	int ns = ctx->newstate;

	if (ns != PF_TCP_SYN_SENT && ns != PF_TCP_ESTABLISHED && ns != PF_TCP_CLOSE)
		return 0;
	if (ctx->protocol != PF_PROTO_TCP)
		return 0;
	return pf_tcp_state((struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate, false);
}

/* ---- unconnected UDP peers: cgroup sock_addr hooks -------------------------- */

/*
 * These run only for UDP messages that carry an address (sendto/sendmsg with a
 * destination, recvfrom/recvmsg asking for the source), in the caller's
 * context, right before the send/receive tracepoint of the same call. They
 * hand the peer to that tracepoint through the per-thread stash and never
 * change or refuse anything: the return value 1 lets the message through.
 */
static __always_inline void pf_cg_stash(struct bpf_sock_addr *ctx, bool send, bool v6)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pf_stash *s = bpf_map_lookup_elem(&pf_stash, &tid);
	struct pf_stash fresh = {};
	struct pf_peer *p;

	if (ctx->protocol != PF_PROTO_UDP)
		return;
	if (!s) {
		bpf_map_update_elem(&pf_stash, &tid, &fresh, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&pf_stash, &tid);
		if (!s)
			return;
	}
	p = send ? &s->send_peer : &s->recv_peer;
	__builtin_memset(p->addr, 0, sizeof(p->addr));
	if (v6) {
		__u32 *a = (__u32 *)p->addr;

		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		p->family = PF_AF_INET6;
	} else {
		*(__u32 *)p->addr = ctx->user_ip4;
		p->family = PF_AF_INET;
	}
	p->port = bpf_ntohs((__u16)ctx->user_port);
	p->valid = 1;
}

SEC("cgroup/sendmsg4")
int pf_cg_send4(struct bpf_sock_addr *ctx)
{
	pf_cg_stash(ctx, true, false);
	return 1;
}

SEC("cgroup/sendmsg6")
int pf_cg_send6(struct bpf_sock_addr *ctx)
{
	pf_cg_stash(ctx, true, true);
	return 1;
}

SEC("cgroup/recvmsg4")
int pf_cg_recv4(struct bpf_sock_addr *ctx)
{
	pf_cg_stash(ctx, false, false);
	return 1;
}

SEC("cgroup/recvmsg6")
int pf_cg_recv6(struct bpf_sock_addr *ctx)
{
	pf_cg_stash(ctx, false, true);
	return 1;
}

/* ---- unconnected UDP peers: syscall tracepoints (fallback) ------------------- */

static __always_inline void pf_stash_put(__u64 send_addr, __u64 recv_addr, __u64 recv_msghdr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pf_stash s = {};

	s.send_addr = send_addr;
	s.recv_addr = recv_addr;
	s.recv_msghdr = recv_msghdr;
	bpf_map_update_elem(&pf_stash, &tid, &s, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int pf_sc_sendto(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[4])
		pf_stash_put(ctx->args[4], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int pf_sc_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr m = {};

	if (bpf_probe_read_user(&m, sizeof(m), (void *)ctx->args[1]) == 0 && m.msg_name)
		pf_stash_put((__u64)m.msg_name, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int pf_sc_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[4])
		pf_stash_put(0, ctx->args[4], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int pf_sc_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[1])
		pf_stash_put(0, 0, ctx->args[1]);
	return 0;
}

/* The syscall copied the source address out: account the parked receive. */
static __always_inline int pf_recv_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pf_stash *s = bpf_map_lookup_elem(&pf_stash, &tid);
	struct pf_peer peer = {};
	__u64 addr;

	if (!s)
		return 0;
	if (s->sk && s->len > 0) {
		addr = s->recv_addr;
		if (!addr && s->recv_msghdr) {
			struct user_msghdr m = {};

			if (bpf_probe_read_user(&m, sizeof(m), (void *)s->recv_msghdr) == 0)
				addr = (__u64)m.msg_name;
		}
		pf_read_sockaddr(&peer, (const void *)addr, true);
		pf_account((struct sock *)s->sk, s->len, PF_DIR_IN, &peer, PF_PEER_GIVEN, false);
	}
	bpf_map_delete_elem(&pf_stash, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int pf_sc_recvfrom_x(void *ctx)
{
	return pf_recv_exit();
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int pf_sc_recvmsg_x(void *ctx)
{
	return pf_recv_exit();
}

/* ---- kprobes: for kernels before 6.3 without BTF trampolines ----------------- */

/*
 * A call's socket (and msghdr) from entry to return, per thread: the byte
 * count of a TCP send or a UDP receive is only known when the call returns.
 */
static __always_inline int pf_call_enter(struct sock *sk, struct msghdr *msg)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pf_stash s = {};

	s.sk = (__u64)sk;
	s.kmsg = (__u64)msg;
	bpf_map_update_elem(&pf_stash, &tid, &s, BPF_ANY);
	return 0;
}

/* The stash of pf_call_enter, or NULL; the caller deletes it with pf_call_done. */
static __always_inline struct pf_stash *pf_call_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&pf_stash, &tid);
}

static __always_inline void pf_call_done(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&pf_stash, &tid);
}

/* tcp_sendmsg's return value, not its size argument: a non-blocking send may take less. */
SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(pf_kp_tcp_send, struct sock *sk, struct msghdr *msg)
{
	return pf_call_enter(sk, msg);
}

SEC("kretprobe/tcp_sendmsg")
int BPF_KRETPROBE(pf_kr_tcp_send, int ret)
{
	struct pf_stash *s = pf_call_exit();

	if (!s)
		return 0;
	if (ret > 0 && s->sk)
		pf_account((struct sock *)s->sk, ret, PF_DIR_OUT, NULL, PF_PEER_GIVEN, false);
	pf_call_done();
	return 0;
}

/* Receives: the advance of copied_seq, so running totals passed in a loop count once. */
SEC("kprobe/tcp_cleanup_rbuf")
int BPF_KPROBE(pf_kp_tcp_rbuf, struct sock *sk, int copied)
{
	return pf_account_len(sk, copied, PF_DIR_IN, NULL, PF_PEER_GIVEN, false, PF_LEN_COPIED_SEQ);
}

/* Unconnected UDP: the destination from the call's msghdr. */
static __always_inline int pf_udp_send(struct sock *sk, struct msghdr *msg, long len)
{
	struct pf_peer peer = {};

	if (BPF_CORE_READ(sk, __sk_common.skc_dport) == 0)
		pf_read_sockaddr(&peer, BPF_CORE_READ(msg, msg_name), false);
	return pf_account(sk, len, PF_DIR_OUT, &peer, PF_PEER_GIVEN, false);
}

/*
 * udpv6_sendmsg hands datagrams to v4-mapped peers on to udp_sendmsg: an
 * IPv6 socket seen in udp_sendmsg was already counted by its v6 hook.
 */
static __always_inline bool pf_udp4_of_v6(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_family) == PF_AF_INET6;
}

SEC("kprobe/udp_sendmsg")
int BPF_KPROBE(pf_kp_udp_send, struct sock *sk, struct msghdr *msg, size_t len)
{
	if (pf_udp4_of_v6(sk))
		return 0;
	return pf_udp_send(sk, msg, len);
}

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(pf_kp_udp6_send, struct sock *sk, struct msghdr *msg, size_t len)
{
	return pf_udp_send(sk, msg, len);
}

/* A UDP receive returned `ret` bytes: the source is in the msghdr now. */
static __always_inline void pf_udp_recv(struct sock *sk, struct msghdr *msg, int ret)
{
	struct pf_peer peer = {};

	if (ret <= 0 || !sk)
		return;
	if (msg)
		pf_read_sockaddr(&peer, BPF_CORE_READ(msg, msg_name), false);
	pf_account(sk, ret, PF_DIR_IN, &peer, PF_PEER_GIVEN, false);
}

static __always_inline int pf_kp_udp_recv_exit(int ret)
{
	struct pf_stash *s = pf_call_exit();

	if (!s)
		return 0;
	pf_udp_recv((struct sock *)s->sk, (struct msghdr *)s->kmsg, ret);
	pf_call_done();
	return 0;
}

SEC("kprobe/udp_recvmsg")
int BPF_KPROBE(pf_kp_udp_recv, struct sock *sk, struct msghdr *msg)
{
	return pf_call_enter(sk, msg);
}

SEC("kretprobe/udp_recvmsg")
int BPF_KRETPROBE(pf_kr_udp_recv, int ret)
{
	return pf_kp_udp_recv_exit(ret);
}

SEC("kprobe/udpv6_recvmsg")
int BPF_KPROBE(pf_kp_udp6_recv, struct sock *sk, struct msghdr *msg)
{
	return pf_call_enter(sk, msg);
}

SEC("kretprobe/udpv6_recvmsg")
int BPF_KRETPROBE(pf_kr_udp6_recv, int ret)
{
	return pf_kp_udp_recv_exit(ret);
}

/* ---- fentry/fexit: BTF trampolines (5.5+ on x86), cheaper than kprobes ------ */

SEC("fexit/tcp_sendmsg")
int BPF_PROG(pf_fx_tcp_send, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	if (ret <= 0)
		return 0;
	return pf_account(sk, ret, PF_DIR_OUT, NULL, PF_PEER_GIVEN, false);
}

SEC("fentry/tcp_cleanup_rbuf")
int BPF_PROG(pf_fe_tcp_rbuf, struct sock *sk, int copied)
{
	return pf_account_len(sk, copied, PF_DIR_IN, NULL, PF_PEER_GIVEN, false, PF_LEN_COPIED_SEQ);
}

SEC("fexit/udp_sendmsg")
int BPF_PROG(pf_fx_udp_send, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	if (ret <= 0 || pf_udp4_of_v6(sk))
		return 0;
	return pf_udp_send(sk, msg, ret);
}

SEC("fexit/udpv6_sendmsg")
int BPF_PROG(pf_fx_udp6_send, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	if (ret <= 0)
		return 0;
	return pf_udp_send(sk, msg, ret);
}

/*
 * udp(v6)_recvmsg lost its `noblock` argument in 5.19, which moves the return
 * value in the trampoline's context: the loader reads the parameter count
 * from the kernel's BTF (cfg_udp_recv_args), and each branch below reads a
 * constant slot (the verifier drops the branch this kernel does not take).
 */
static __always_inline int pf_fx_udp_recv_common(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct msghdr *msg = (struct msghdr *)ctx[1];
	__u64 ret;

	/*
	 * Loads at a constant offset from ctx, written out: the compiler would
	 * otherwise pick the offset first and load through ctx + offset, which
	 * the verifier refuses ("dereference of modified ctx ptr").
	 */
	if (cfg_udp_recv_args == 6)
		asm volatile("%0 = *(u64 *)(%1 + 48)" : "=r"(ret) : "r"(ctx));
	else
		asm volatile("%0 = *(u64 *)(%1 + 40)" : "=r"(ret) : "r"(ctx));
	pf_udp_recv(sk, msg, (int)ret);
	return 0;
}

SEC("fexit/udp_recvmsg")
int pf_fx_udp_recv(__u64 *ctx)
{
	return pf_fx_udp_recv_common(ctx);
}

SEC("fexit/udpv6_recvmsg")
int pf_fx_udp6_recv(__u64 *ctx)
{
	return pf_fx_udp_recv_common(ctx);
}

/* ---- DNS: cgroup skb capture, owners from sock_addr hooks (lib/dns.h) ------- */

SEC("cgroup/connect4")
int pf_dns_conn4(struct bpf_sock_addr *ctx)
{
	pf_dns_note_owner(ctx);
	return 1;
}

SEC("cgroup/connect6")
int pf_dns_conn6(struct bpf_sock_addr *ctx)
{
	pf_dns_note_owner(ctx);
	return 1;
}

SEC("cgroup/sendmsg4")
int pf_dns_send4(struct bpf_sock_addr *ctx)
{
	pf_dns_note_owner(ctx);
	return 1;
}

SEC("cgroup/sendmsg6")
int pf_dns_send6(struct bpf_sock_addr *ctx)
{
	pf_dns_note_owner(ctx);
	return 1;
}

SEC("cgroup_skb/egress")
int pf_dns_egress(struct __sk_buff *skb)
{
	return pf_dns_capture(skb, true);
}

SEC("cgroup_skb/ingress")
int pf_dns_ingress(struct __sk_buff *skb)
{
	return pf_dns_capture(skb, false);
}

/* ---- DNS per message: BTF trampolines (lib/dns-msg.h) ---------------------- */

SEC("fentry/ip_send_skb")
int BPF_PROG(pf_dm_usend4, struct net *net, struct sk_buff *skb)
{
	pf_dm_udp_sent(skb);
	return 0;
}

SEC("fentry/ip6_send_skb")
int BPF_PROG(pf_dm_usend6, struct sk_buff *skb)
{
	pf_dm_udp_sent(skb);
	return 0;
}

SEC("fentry/udp_recvmsg")
int BPF_PROG(pf_dm_urecv4, struct sock *sk, struct msghdr *msg)
{
	pf_dm_udp_recv(sk, msg);
	return 0;
}

SEC("fentry/udpv6_recvmsg")
int BPF_PROG(pf_dm_urecv6, struct sock *sk, struct msghdr *msg)
{
	pf_dm_udp_recv(sk, msg);
	return 0;
}

SEC("fentry/skb_consume_udp")
int BPF_PROG(pf_dm_ucons, struct sock *sk, struct sk_buff *skb, int len)
{
	pf_dm_udp_consumed(sk, skb, len);
	return 0;
}

SEC("fentry/tcp_sendmsg")
int BPF_PROG(pf_dm_tsend, struct sock *sk, struct msghdr *msg, size_t size)
{
	if (pf_dm_tcp_dns(sk))
		pf_dm_tcp_send(sk, msg, size);
	return 0;
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(pf_dm_trecv, struct sock *sk, struct msghdr *msg)
{
	if (pf_dm_tcp_dns(sk))
		pf_dm_tcp_recv(sk, msg);
	return 0;
}

/* tcp_recvmsg lost its `nonblock` argument in 5.19, as udp_recvmsg did (cfg_tcp_recv_args). */
SEC("fexit/tcp_recvmsg")
int pf_dm_trecv_x(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	__u64 ret;

	if (cfg_tcp_recv_args == 6)
		asm volatile("%0 = *(u64 *)(%1 + 48)" : "=r"(ret) : "r"(ctx));
	else
		asm volatile("%0 = *(u64 *)(%1 + 40)" : "=r"(ret) : "r"(ctx));
	if (pf_dm_tcp_dns(sk))
		pf_dm_tcp_recv_done(sk, (int)ret);
	return 0;
}

/* ---- DNS over local resolver sockets (lib/dns-local.h) ---------------------- */

SEC("fentry/unix_stream_sendmsg")
int BPF_PROG(pf_fe_unix_send, struct socket *sock, struct msghdr *msg, size_t len)
{
	pf_dl_fn_send(sock, msg, len);
	return 0;
}

SEC("fentry/unix_stream_recvmsg")
int BPF_PROG(pf_fe_unix_recv, struct socket *sock, struct msghdr *msg)
{
	pf_dl_fn_recv(sock, msg);
	return 0;
}

SEC("fexit/unix_stream_recvmsg")
int BPF_PROG(pf_fx_unix_recv, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	pf_dl_finish(ret);
	return 0;
}

SEC("kprobe/unix_stream_sendmsg")
int BPF_KPROBE(pf_kp_unix_send, struct socket *sock, struct msghdr *msg, size_t len)
{
	pf_dl_fn_send(sock, msg, len);
	return 0;
}

SEC("kprobe/unix_stream_recvmsg")
int BPF_KPROBE(pf_kp_unix_recv, struct socket *sock, struct msghdr *msg)
{
	pf_dl_fn_recv(sock, msg);
	return 0;
}

SEC("kretprobe/unix_stream_recvmsg")
int BPF_KRETPROBE(pf_kr_unix_recv, int ret)
{
	pf_dl_finish(ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int pf_dl_conn(struct trace_event_raw_sys_enter *ctx)
{
	pf_dl_sc_connect((int)ctx->args[0], (const void *)ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int pf_dl_conn_x(struct trace_event_raw_sys_exit *ctx)
{
	pf_dl_sc_connected(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int pf_dl_close(struct trace_event_raw_sys_enter *ctx)
{
	pf_dl_sc_close((int)ctx->args[0]);
	return 0;
}

#define PF_DL_SC_BUF(name, sys, dir)                                             \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                               \
	int name(struct trace_event_raw_sys_enter *ctx)                          \
	{                                                                        \
		pf_dl_sc_io((int)ctx->args[0], ctx->args[1], ctx->args[2], dir); \
		return 0;                                                        \
	}
#define PF_DL_SC_IOV(name, sys, dir)                                                           \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                             \
	int name(struct trace_event_raw_sys_enter *ctx)                                        \
	{                                                                                      \
		pf_dl_sc_iov((int)ctx->args[0], (const struct iovec *)ctx->args[1], ctx->args[2], dir); \
		return 0;                                                                      \
	}
#define PF_DL_SC_MSG(name, sys, dir)                                                           \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                             \
	int name(struct trace_event_raw_sys_enter *ctx)                                        \
	{                                                                                      \
		pf_dl_sc_msg((int)ctx->args[0], (const struct user_msghdr *)ctx->args[1], dir); \
		return 0;                                                                      \
	}
#define PF_DL_SC_EXIT(name, sys)                                \
	SEC("tracepoint/syscalls/sys_exit_" #sys)               \
	int name(struct trace_event_raw_sys_exit *ctx)          \
	{                                                       \
		pf_dl_finish(ctx->ret);                         \
		return 0;                                       \
	}

PF_DL_SC_BUF(pf_dl_wr, write, PF_DNS_QUERY)
PF_DL_SC_BUF(pf_dl_sendto, sendto, PF_DNS_QUERY)
PF_DL_SC_MSG(pf_dl_sendmsg, sendmsg, PF_DNS_QUERY)
PF_DL_SC_IOV(pf_dl_writev, writev, PF_DNS_QUERY)
PF_DL_SC_BUF(pf_dl_rd, read, PF_DNS_RESPONSE)
PF_DL_SC_BUF(pf_dl_recvfrom, recvfrom, PF_DNS_RESPONSE)
PF_DL_SC_MSG(pf_dl_recvmsg, recvmsg, PF_DNS_RESPONSE)
PF_DL_SC_IOV(pf_dl_readv, readv, PF_DNS_RESPONSE)
PF_DL_SC_EXIT(pf_dl_wr_x, write)
PF_DL_SC_EXIT(pf_dl_sendto_x, sendto)
PF_DL_SC_EXIT(pf_dl_sendmsg_x, sendmsg)
PF_DL_SC_EXIT(pf_dl_writev_x, writev)
PF_DL_SC_EXIT(pf_dl_rd_x, read)
PF_DL_SC_EXIT(pf_dl_recvfr_x, recvfrom)
PF_DL_SC_EXIT(pf_dl_recvmsg_x, recvmsg)
PF_DL_SC_EXIT(pf_dl_readv_x, readv)
