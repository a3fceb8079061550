/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Flow accounting: build the key from a socket, update counters and TCP stats. */
#ifndef PF_LIB_FLOW_H
#define PF_LIB_FLOW_H

#define PF_DIR_OUT 0
#define PF_DIR_IN 1

#define PF_TCP_ESTABLISHED 1
#define PF_TCP_SYN_SENT 2
#define PF_TCP_SYN_RECV 3
#define PF_TCP_CLOSE 7
#define PF_TCP_LISTEN 10

#define PF_MSG_PEEK 2
#define PF_SOCK_DONE 1 /* enum sock_flags: a FIN was received */

/* Read a struct sockaddr_in / sockaddr_in6 from user or kernel memory. */
static __always_inline void pf_read_sockaddr(struct pf_peer *peer, const void *sa, bool user)
{
	struct sockaddr_in6 sin6 = {};
	long err;

	peer->valid = 0;
	if (!sa)
		return;
	if (user)
		err = bpf_probe_read_user(&sin6, sizeof(sin6), sa);
	else
		err = bpf_probe_read_kernel(&sin6, sizeof(sin6), sa);
	if (err < 0)
		return;
	if (sin6.sin6_family == PF_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&sin6;

		__builtin_memset(peer->addr, 0, sizeof(peer->addr));
		__builtin_memcpy(peer->addr, &sin->sin_addr.s_addr, 4);
		peer->port = bpf_ntohs(sin->sin_port);
		peer->family = PF_AF_INET;
		peer->valid = 1;
	} else if (sin6.sin6_family == PF_AF_INET6) {
		__builtin_memcpy(peer->addr, &sin6.sin6_addr, 16);
		peer->port = bpf_ntohs(sin6.sin6_port);
		peer->family = PF_AF_INET6;
		peer->valid = 1;
	}
}

static __always_inline bool pf_is_v4_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline bool pf_is_zero(const __u8 *a)
{
	const __u64 *w = (const __u64 *)a;

	return w[0] == 0 && w[1] == 0;
}

/* Move a v4-mapped IPv6 address into the IPv4 slot (first 4 bytes). */
static __always_inline void pf_unmap(__u8 *a)
{
	__u32 *w = (__u32 *)a;

	w[0] = w[3];
	w[1] = 0;
	w[2] = 0;
	w[3] = 0;
}

/*
 * Fill `key` from the socket (and the peer for unconnected UDP).
 * Returns false for sockets that are not IPv4/IPv6 TCP/UDP.
 */
static __always_inline void pf_apply_peer(struct pf_flow_key *key, const struct pf_peer *peer);

static __always_inline bool pf_fill_key(struct pf_flow_key *key, struct sock *sk,
					const struct pf_peer *peer)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	if (proto != PF_PROTO_TCP && proto != PF_PROTO_UDP)
		return false;
	__builtin_memset(key, 0, sizeof(*key));
	key->proto = proto;
	key->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (key->local_port == 0) {
		/* Closing sockets give their port back (inet_put_port); the bound port stays. */
		key->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	}
	key->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == PF_AF_INET) {
		key->family = PF_AF_INET;
		BPF_CORE_READ_INTO(&key->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&key->remote_addr, sk, __sk_common.skc_daddr);
	} else if (family == PF_AF_INET6) {
		key->family = PF_AF_INET6;
		BPF_CORE_READ_INTO(&key->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&key->remote_addr, sk, __sk_common.skc_v6_daddr);
	} else {
		return false;
	}
	pf_apply_peer(key, peer);
	return true;
}

/*
 * pf_fill_key for BTF-typed socket pointers (tp_btf programs): plain loads the
 * verifier turns into fault-safe ones, instead of a helper call per field.
 */
static __always_inline bool pf_fill_key_btf(struct pf_flow_key *key, struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	__u16 proto = sk->sk_protocol;

	if (proto != PF_PROTO_TCP && proto != PF_PROTO_UDP)
		return false;
	__builtin_memset(key, 0, sizeof(*key));
	key->proto = proto;
	key->local_port = sk->__sk_common.skc_num;
	if (key->local_port == 0)
		key->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	key->remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (family == PF_AF_INET) {
		key->family = PF_AF_INET;
		*(__u32 *)key->local_addr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)key->remote_addr = sk->__sk_common.skc_daddr;
	} else if (family == PF_AF_INET6) {
		__u32 *l = (__u32 *)key->local_addr;
		__u32 *r = (__u32 *)key->remote_addr;

		key->family = PF_AF_INET6;
		l[0] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[0];
		l[1] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[1];
		l[2] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[2];
		l[3] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3];
		r[0] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
		r[1] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
		r[2] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
		r[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
	} else {
		return false;
	}
	pf_apply_peer(key, NULL);
	return true;
}

/*
 * Unconnected UDP: the peer comes from the call's sockaddr. Then fold
 * v4-mapped IPv6 tuples into IPv4.
 */
static __always_inline void pf_apply_peer(struct pf_flow_key *key, const struct pf_peer *peer)
{
	if (key->remote_port == 0 && peer && peer->valid) {
		key->remote_port = peer->port;
		if (peer->family == PF_AF_INET && key->family == PF_AF_INET6) {
			/* v4 peer on a dual-stack socket: map it like the kernel does. */
			__u32 *w = (__u32 *)key->remote_addr;

			w[0] = 0;
			w[1] = 0;
			w[2] = bpf_htonl(0x0000ffff);
			w[3] = *(const __u32 *)peer->addr;
		} else {
			__builtin_memcpy(key->remote_addr, peer->addr, 16);
		}
	}
	if (key->family == PF_AF_INET6 && pf_is_v4_mapped(key->remote_addr) &&
	    (pf_is_v4_mapped(key->local_addr) || pf_is_zero(key->local_addr))) {
		key->family = PF_AF_INET;
		pf_unmap(key->remote_addr);
		pf_unmap(key->local_addr);
	}
}

/* Guess the role from ports when no handshake was seen: services use the lower port. */
static __always_inline __u8 pf_role_guess(const struct pf_flow_key *key)
{
	if (key->local_port < key->remote_port)
		return PF_ROLE_SERVER;
	if (key->local_port > key->remote_port)
		return PF_ROLE_CLIENT;
	return PF_ROLE_UNKNOWN;
}

/*
 * A new flow's value, before the insert: the first call's counts go in with
 * it, so a new flow costs one lookup and one insert, not an insert and a
 * lookup more.
 */
static __always_inline void pf_flow_init(struct pf_flow_value *f, __u64 now, __u64 start_ns,
					 const char *comm, __u8 role)
{
	f->first_seen_ns = now;
	f->last_seen_ns = now;
	f->pid_start_ns = start_ns;
	f->role = role;
	__builtin_memcpy(f->comm, comm, PF_COMM_LEN);
}

/* Add a new flow's counts (and TCP stats when `stats`) to the entry another CPU inserted first. */
static __always_inline void pf_flow_add(struct pf_flow_value *v, const struct pf_flow_value *f, bool stats)
{
	__sync_fetch_and_add(&v->bytes_out, f->bytes_out);
	__sync_fetch_and_add(&v->bytes_in, f->bytes_in);
	__sync_fetch_and_add(&v->packets_out, f->packets_out);
	__sync_fetch_and_add(&v->packets_in, f->packets_in);
	if (f->tcp_started)
		__sync_fetch_and_add(&v->tcp_started, f->tcp_started);
	if (f->tcp_completed)
		__sync_fetch_and_add(&v->tcp_completed, f->tcp_completed);
	if (stats) {
		v->srtt_us = f->srtt_us;
		v->min_rtt_us = f->min_rtt_us;
		v->cwnd = f->cwnd;
		v->mss = f->mss;
		v->retransmits = f->retransmits;
		v->lost = f->lost;
	}
	v->last_seen_ns = f->last_seen_ns;
}

/*
 * Insert the new flow `f` of `key`; when another CPU inserted the key first,
 * add f's counts to that entry instead. A full map is counted.
 */
static __always_inline void pf_flow_insert(__u32 live, const struct pf_flow_key *key,
					   const struct pf_flow_value *f, bool stats)
{
	struct pf_flow_value *v;
	long err = pf_flows_insert(live, key, f);

	if (!err)
		return;
	if (err != -17 /* EEXIST */) {
		pf_count(PF_CTR_FLOW_MAP_FULL);
		return;
	}
	v = pf_flows_lookup(live, key);
	if (v)
		pf_flow_add(v, f, stats);
}

#define PF_TCP_STATS_EVERY_NS (100 * 1000 * 1000ULL)

/*
 * Socket state store: an LRU hash keyed by the socket's address, for every
 * flavour. Socket storage (BPF_MAP_TYPE_SK_STORAGE) was used by the tp_btf
 * programs until 2026-12-07; its two allocations per socket (charged to the
 * memory cgroup) and their RCU free cost more than the hash: churn kept 0.808
 * with it and 0.914 without, the programs alone (bench:kernel-ab).
 */
static __always_inline struct pf_sock_state *pf_sock_find(struct sock *sk)
{
	__u64 skp = (__u64)sk;

	return bpf_map_lookup_elem(&pf_socks, &skp);
}

/*
 * Store `fresh` as the state of `sk`: replacing any existing state, or
 * (`keep_existing`) only when there is none. Returns the stored state.
 */
static __always_inline struct pf_sock_state *pf_sock_put(struct sock *sk, struct pf_sock_state *fresh,
							 bool keep_existing)
{
	__u64 skp = (__u64)sk;
	long err;

	err = bpf_map_update_elem(&pf_socks, &skp, fresh, keep_existing ? BPF_NOEXIST : BPF_ANY);
	if (err && err != -17 /* EEXIST: another CPU won the race */)
		pf_count(PF_CTR_SOCK_MAP_FULL);
	return bpf_map_lookup_elem(&pf_socks, &skp);
}

static __always_inline void pf_sock_forget(struct sock *sk)
{
	__u64 skp = (__u64)sk;

	bpf_map_delete_elem(&pf_socks, &skp);
}

/*
 * Segment deltas since the last look (every call), and the latest TCP stats
 * (at most every PF_TCP_STATS_EVERY_NS per socket, or when `force`). `tpb` is
 * the typed socket (pf_tcp_typed) or NULL; `local` says `v` is a new flow's
 * value on the stack, not yet shared, so no atomics.
 */
static __always_inline void pf_tcp_update(struct pf_flow_value *v, struct sock *sk, struct tcp_sock *tpb,
					  struct pf_sock_state *st, __u64 now, bool force, bool local)
{
	if (st) {
		__u32 segs_out = PF_TCP(tpb, sk, segs_out);
		__u32 segs_in = PF_TCP(tpb, sk, segs_in);

		if (local) {
			v->packets_out += segs_out - st->segs_out;
			v->packets_in += segs_in - st->segs_in;
		} else {
			__sync_fetch_and_add(&v->packets_out, segs_out - st->segs_out);
			__sync_fetch_and_add(&v->packets_in, segs_in - st->segs_in);
		}
		st->segs_out = segs_out;
		st->segs_in = segs_in;
		if (!force && now - st->stats_ns < PF_TCP_STATS_EVERY_NS)
			return;
		st->stats_ns = now;
	}
	v->srtt_us = PF_TCP(tpb, sk, srtt_us) >> 3;
	v->min_rtt_us = PF_TCP(tpb, sk, rtt_min.s[0].v);
	v->cwnd = PF_TCP(tpb, sk, snd_cwnd);
	v->mss = PF_TCP(tpb, sk, mss_cache);
	v->retransmits = PF_TCP(tpb, sk, total_retrans);
	v->lost = PF_TCP(tpb, sk, lost_out);
}

/* The socket state of a TCP socket, created on first sight (connection older than us). */
static __always_inline struct pf_sock_state *pf_sock_get(struct sock *sk, struct tcp_sock *tpb,
							 __u8 role, int dir, bool btf)
{
	struct pf_sock_state *st = pf_sock_find(sk);
	struct pf_sock_state fresh = {};
	int state;

	if (st && !st->closed)
		return st;
	state = PF_READ(btf, sk, __sk_common.skc_state);
	if (st && state == PF_TCP_CLOSE)
		return st;
	/* A closed socket with no state: account, but do not start tracking it. */
	if (!st && state == PF_TCP_CLOSE)
		return NULL;
	/* else: no state yet, or a stale closed entry for a reused address. */
	fresh.role = role;
	/* Baselines one below now: this call's own segment counts as one packet. */
	fresh.segs_out = PF_TCP(tpb, sk, segs_out) - (dir == PF_DIR_OUT);
	fresh.segs_in = PF_TCP(tpb, sk, segs_in) - (dir == PF_DIR_IN);
	return pf_sock_put(sk, &fresh, !st);
}

/*
 * The first bytes of a flow: its value built on the stack with this call's
 * counts (and forced TCP stats), then inserted.
 */
static __always_inline void pf_account_new(__u32 live, const struct pf_flow_key *key, struct sock *sk,
					   struct tcp_sock *tpb, struct pf_sock_state *st, long len, int dir,
					   __u8 role, __u64 start_ns, const char *comm)
{
	struct pf_flow_value f = {};
	__u64 now = bpf_ktime_get_boot_ns();

	pf_flow_init(&f, now, start_ns, comm, role);
	if (dir == PF_DIR_OUT)
		f.bytes_out = len;
	else
		f.bytes_in = len;
	if (key->proto == PF_PROTO_TCP) {
		pf_tcp_update(&f, sk, tpb, st, now, true, true);
		if (st && st->start_pending) {
			st->start_pending = 0;
			f.tcp_started = 1;
		}
	} else if (dir == PF_DIR_OUT) {
		f.packets_out = 1;
	} else {
		f.packets_in = 1;
	}
	pf_flow_insert(live, key, &f, key->proto == PF_PROTO_TCP);
}

/* Where pf_account finds the peer of an unconnected UDP socket. */
#define PF_PEER_GIVEN 0      /* the `peer` argument (kprobes read it from msghdr) */
#define PF_PEER_SEND_STASH 1 /* the peer stashed for this thread's send (cgroup hook or syscall sockaddr) */
#define PF_PEER_RECV_PARK 2  /* the stashed source (cgroup hook), else park until sys_exit_recv* */

/* How pf_account learns the byte count of a TCP receive. */
#define PF_LEN_GIVEN 0       /* the `len` argument */
#define PF_LEN_COPIED_SEQ 1  /* the advance of copied_seq since the last call; `len` on first sight */

/*
 * Account `len` bytes sent (dir OUT) or received (dir IN) on `sk` by the
 * current process. `peer` (may be NULL) names the remote end of an
 * unconnected UDP socket; `len_mode` says where the byte count comes from.
 */
static __always_inline int pf_account_len(struct sock *sk, long len, int dir,
					  const struct pf_peer *peer, int peer_mode, bool btf,
					  int len_mode)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pf_sock_state *st = NULL;
	struct pf_flow_value *v;
	/*
	 * The key lives on the stack, not in the per-CPU scratch map: a program
	 * in process context can be interrupted by one in softirq (TCP state
	 * changes, receives) on the same CPU, which would overwrite a shared
	 * per-CPU key half-way and credit the bytes to another flow.
	 */
	struct pf_flow_key key;
	struct tcp_sock *tpb = NULL;
	__u32 live;
	__u64 now;
	__u8 role;

	if (len <= 0 || !sk)
		return 0;
	if (cfg_ignore_tgid && tgid == cfg_ignore_tgid)
		return 0;
	if (btf ? !pf_fill_key_btf(&key, sk) : !pf_fill_key(&key, sk, peer))
		return 0;
	if (peer_mode != PF_PEER_GIVEN && key.proto == PF_PROTO_UDP && key.remote_port == 0) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct pf_stash *s = bpf_map_lookup_elem(&pf_stash, &tid);

		if (!s) {
			/* no peer known: account with remote 0 */
		} else if (peer_mode == PF_PEER_SEND_STASH && s->send_peer.valid) {
			/* cgroup/sendmsg4|6 saw this send's destination */
			pf_apply_peer(&key, &s->send_peer);
			s->send_peer.valid = 0;
		} else if (peer_mode == PF_PEER_RECV_PARK && s->recv_peer.valid) {
			/* cgroup/recvmsg4|6 saw this datagram's source */
			pf_apply_peer(&key, &s->recv_peer);
			s->recv_peer.valid = 0;
		} else if (peer_mode == PF_PEER_SEND_STASH && s->send_addr) {
			struct pf_peer p = {};

			pf_read_sockaddr(&p, (const void *)s->send_addr, true);
			pf_apply_peer(&key, &p);
		} else if (peer_mode == PF_PEER_RECV_PARK && (s->recv_addr || s->recv_msghdr)) {
			s->sk = (__u64)sk;
			s->len = len;
			return 0;
		}
	}
	key.tgid = tgid;
	pf_count(PF_CTR_FLOW_UPDATES);
	role = pf_role_guess(&key);
	if (key.proto == PF_PROTO_TCP) {
		tpb = pf_tcp_typed(sk, btf);
		st = pf_sock_get(sk, tpb, role, dir, btf);
		if (st && st->role)
			role = st->role;
		if (len_mode == PF_LEN_COPIED_SEQ && st) {
			struct tcp_sock *tp = (struct tcp_sock *)sk;
			__u32 seq = BPF_CORE_READ(tp, copied_seq);
			bool counted = st->seq_valid;

			/* Up to 5.15, tcp_recvmsg calls the hook with a running total inside its loop too. */
			if (counted)
				len = (__s32)(seq - st->copied_seq);
			st->copied_seq = seq;
			st->seq_valid = 1;
			/*
			 * Reading the FIN moves copied_seq one past it, a sequence number
			 * without data: a FIN arrived (SOCK_DONE) and everything up to
			 * rcv_nxt, which includes it, was consumed.
			 */
			if (!st->fin_read && (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << PF_SOCK_DONE)) &&
			    seq == BPF_CORE_READ(tp, rcv_nxt)) {
				st->fin_read = 1;
				if (counted)
					len -= 1;
			}
			if (len <= 0)
				return 0;
		}
	}
	live = pf_flows_live();
	if (st && st->owner_tgid == tgid && st->flow_live != live + 1)
		v = NULL; /* most likely a new flow: insert first, no lookup (an existing one is added to) */
	else
		v = pf_flows_lookup(live, &key);
	if (!v || (st && st->owner_tgid != tgid)) {
		/* Slow path: a new flow, or a socket seen in its owner's context first. */
		char comm[PF_COMM_LEN];
		__u64 start_ns = pf_current_owner(comm, btf);

		if (st && st->owner_tgid != tgid) {
			st->owner_tgid = tgid;
			st->owner_start_ns = start_ns;
			__builtin_memcpy(st->owner_comm, comm, PF_COMM_LEN);
		}
		if (!v) {
			if (st)
				st->flow_live = live + 1;
			pf_account_new(live, &key, sk, tpb, st, len, dir, role, start_ns, comm);
			return 0;
		}
	}
	if (st && st->flow_live != live + 1)
		st->flow_live = live + 1;
	if (dir == PF_DIR_OUT)
		__sync_fetch_and_add(&v->bytes_out, len);
	else
		__sync_fetch_and_add(&v->bytes_in, len);
	now = bpf_ktime_get_boot_ns();
	v->last_seen_ns = now;
	if (key.proto == PF_PROTO_TCP) {
		pf_tcp_update(v, sk, tpb, st, now, false, false);
		if (st && st->start_pending) {
			st->start_pending = 0;
			__sync_fetch_and_add(&v->tcp_started, 1);
		}
	} else if (dir == PF_DIR_OUT) {
		__sync_fetch_and_add(&v->packets_out, 1);
	} else {
		__sync_fetch_and_add(&v->packets_in, 1);
	}
	return 0;
}

static __always_inline int pf_account(struct sock *sk, long len, int dir,
				      const struct pf_peer *peer, int peer_mode, bool btf)
{
	return pf_account_len(sk, len, dir, peer, peer_mode, btf, PF_LEN_GIVEN);
}

/*
 * TCP state changes: remember the role and owner at the handshake, credit
 * start and completion to the owner's flow when the socket closes.
 */
static __always_inline int pf_tcp_state(struct sock *sk, int oldstate, int newstate, bool btf)
{
	struct pf_sock_state *st;
	struct pf_flow_value *v;
	struct pf_flow_key key;
	struct tcp_sock *tpb;
	__u32 live;
	__u64 now;

	if (newstate == PF_TCP_SYN_SENT) {
		/* connect(): process context, the caller owns the socket. */
		struct pf_sock_state fresh = {};
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (cfg_ignore_tgid && tgid == cfg_ignore_tgid)
			return 0;
		fresh.owner_tgid = tgid;
		fresh.owner_start_ns = pf_current_owner(fresh.owner_comm, btf);
		fresh.role = PF_ROLE_CLIENT;
		pf_sock_put(sk, &fresh, false);
		return 0;
	}
	if (newstate == PF_TCP_ESTABLISHED) {
		st = pf_sock_find(sk);
		if (st && !st->closed) {
			st->start_pending = 1;
			return 0;
		}
		if (oldstate == PF_TCP_SYN_RECV) {
			/* Accepted child socket, softirq: the owner is learnt on first I/O. */
			struct pf_sock_state fresh = {};

			fresh.role = PF_ROLE_SERVER;
			fresh.start_pending = 1;
			pf_sock_put(sk, &fresh, false);
		}
		return 0;
	}
	if (newstate != PF_TCP_CLOSE || oldstate == PF_TCP_LISTEN)
		return 0;
	st = pf_sock_find(sk);
	if (!st || st->closed)
		return 0;
	if (oldstate == PF_TCP_SYN_SENT || oldstate == PF_TCP_SYN_RECV) {
		/* Never established. */
		pf_sock_forget(sk);
		return 0;
	}
	if (!(btf ? pf_fill_key_btf(&key, sk) : pf_fill_key(&key, sk, NULL))) {
		pf_sock_forget(sk);
		return 0;
	}
	key.tgid = st->owner_tgid;
	live = pf_flows_live();
	tpb = pf_tcp_typed(sk, btf);
	now = bpf_ktime_get_boot_ns();
	v = pf_flows_lookup(live, &key);
	if (v) {
		pf_tcp_update(v, sk, tpb, st, now, true, false);
		if (st->start_pending)
			__sync_fetch_and_add(&v->tcp_started, 1);
		__sync_fetch_and_add(&v->tcp_completed, 1);
		v->last_seen_ns = now;
	} else {
		/* The flow went out with a drain since its last bytes: a new one carries the close. */
		struct pf_flow_value f = {};

		pf_flow_init(&f, now, st->owner_start_ns, st->owner_comm, st->role);
		pf_tcp_update(&f, sk, tpb, st, now, true, true);
		f.tcp_started = st->start_pending;
		f.tcp_completed = 1;
		pf_flow_insert(live, &key, &f, true);
		st->flow_live = live + 1;
	}
	/*
	 * Where receives carry their length (cfg_forget_closed), reads after the
	 * close need no state: the entry goes now, so the table holds open
	 * sockets only and never evicts a live one for a closed one. Elsewhere
	 * (copied_seq baselines) it stays for those reads until evicted.
	 */
	if (cfg_forget_closed) {
		pf_sock_forget(sk);
		return 0;
	}
	st->start_pending = 0;
	st->closed = 1;
	return 0;
}

#endif
