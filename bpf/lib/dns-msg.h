/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * DNS capture per message, where the kernel has BTF trampolines (fentry): the
 * socket calls that move a DNS message are traced, so no other packet pays.
 * The cgroup skb capture (lib/dns.h) runs a program on every packet of every
 * socket to find the few to and from the server port, and the kernel's
 * dispatch of it costs more than the program; it stays for kernels without
 * trampolines.
 *
 *  - UDP queries: ip_send_skb / ip6_send_skb, which every UDP datagram passes
 *    in the sender's context with its headers built (so an unconnected
 *    socket's source address and an autobound port are known) and, for a
 *    message this small, its payload in the linear part. A socket that sends
 *    a query is remembered (pf_dns_udp_socks, until a later socket at its
 *    address first reads).
 *  - UDP responses: on such a socket, udp(v6)_recvmsg names the caller's
 *    buffer and skb_consume_udp, after the copy, the datagram's headers. The
 *    payload is read from the caller's buffer: a driver may leave most of a
 *    received datagram outside the skb's linear part.
 *  - TCP: tcp_sendmsg at entry and tcp_recvmsg at entry and exit, for sockets
 *    whose remote port is the server port, read the caller's buffers; user
 *    space joins a connection's records and cuts them at the length prefixes.
 *
 * As with the skb capture, only the asking side is captured: queries sent to
 * the server port, responses coming from it.
 */
#ifndef PF_LIB_DNS_MSG_H
#define PF_LIB_DNS_MSG_H

/* UDP sockets that sent a query (the socket's address) -> their connection id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} pf_dns_udp_socks SEC(".maps");

/*
 * A socket's address as a number. A typed (BTF) pointer allows no arithmetic
 * but bounded offsets, and a map key or value made of it would keep its type:
 * the copy through a probe read hands back a plain number.
 */
static __always_inline __u64 pf_dm_addr(struct sock *sk)
{
	struct sock *p = sk;
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

/*
 * One id per socket: its address, with its inode's number, because a freed
 * socket's memory comes back with a later one. (The socket cookie helper
 * reaches tracing programs only in 5.12.)
 */
static __always_inline __u64 pf_dm_conn_id(struct sock *sk)
{
	struct socket *so = BPF_CORE_READ(sk, sk_socket);
	__u64 ino = 0;

	if (so)
		ino = BPF_CORE_READ(container_of(so, struct socket_alloc, socket), vfs_inode.i_ino);
	return pf_dm_addr(sk) ^ (ino << 32);
}

/* The server port, in network order. */
static __always_inline __u16 pf_dm_port(void)
{
	return bpf_htons(cfg_dns_port);
}

/*
 * A datagram's addresses and ports from its IP and UDP headers; `out`: sent
 * by this host (the source is local). Returns the UDP header's length field
 * (header included), 0 when it is not UDP over IPv4/IPv6.
 */
static __always_inline __u32 pf_dm_udp_ends(struct sk_buff *skb, bool out, struct pf_dns_ends *e)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 ip[40];
	__u16 udp[4];
	__u8 *src, *dst;

	if (bpf_probe_read_kernel(ip, 20, head + nh) < 0)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	if ((ip[0] >> 4) == 4) {
		if (ip[9] != PF_PROTO_UDP)
			return 0;
		e->family = PF_AF_INET;
		__builtin_memcpy(out ? e->local_addr : e->remote_addr, &ip[12], 4);
		__builtin_memcpy(out ? e->remote_addr : e->local_addr, &ip[16], 4);
	} else if ((ip[0] >> 4) == 6) {
		if (bpf_probe_read_kernel(ip, 40, head + nh) < 0 || ip[6] != PF_PROTO_UDP)
			return 0;
		e->family = PF_AF_INET6;
		src = &ip[8];
		dst = &ip[24];
		__builtin_memcpy(out ? e->local_addr : e->remote_addr, src, 16);
		__builtin_memcpy(out ? e->remote_addr : e->local_addr, dst, 16);
	} else {
		return 0;
	}
	if (bpf_probe_read_kernel(udp, sizeof(udp), head + th) < 0)
		return 0;
	e->proto = PF_PROTO_UDP;
	e->local_port = bpf_ntohs(out ? udp[0] : udp[1]);
	e->remote_port = bpf_ntohs(out ? udp[1] : udp[0]);
	return bpf_ntohs(udp[2]);
}

/* A datagram leaves: a query when it goes to the server port. */
static __always_inline void pf_dm_udp_sent(struct sk_buff *skb)
{
	struct pf_dns_ends e;
	struct sock *sk;
	__u32 ulen, wire, start, tail, cap;
	__u16 ports[2];
	__u64 key, id;

	/*
	 * Every UDP datagram the node sends passes here (QUIC, DNS, anything):
	 * the destination port is looked at first, through typed loads and one
	 * read of the UDP header, and nothing else is done for the others.
	 */
	if (bpf_probe_read_kernel(ports, sizeof(ports), skb->head + skb->transport_header) < 0 ||
	    ports[1] != pf_dm_port())
		return;
	ulen = pf_dm_udp_ends(skb, true, &e);
	if (ulen < 8 || e.remote_port != cfg_dns_port)
		return;
	sk = BPF_CORE_READ(skb, sk);
	if (!sk)
		return;
	key = pf_dm_addr(sk);
	id = pf_dm_conn_id(sk);
	bpf_map_update_elem(&pf_dns_udp_socks, &key, &id, BPF_ANY);
	wire = ulen - 8;
	/* The payload as far as the linear part holds it (all of it, for a datagram built from one send). */
	start = BPF_CORE_READ(skb, transport_header) + 8;
	tail = BPF_CORE_READ(skb, tail);
	cap = tail > start ? tail - start : 0;
	pf_dl_emit(&e, PF_DNS_CHANNEL_NET, id, PF_DNS_QUERY, (__u64)BPF_CORE_READ(skb, head) + start,
		   cap < wire ? cap : wire, wire, true);
}

/* A receive starts on a socket that asked: remember the caller's buffer. */
static __always_inline void pf_dm_udp_recv(struct sock *sk, struct msghdr *msg)
{
	__u64 key = pf_dm_addr(sk);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 *id = bpf_map_lookup_elem(&pf_dns_udp_socks, &key);
	struct pf_dl_call c = {};

	if (!id)
		return;
	/*
	 * Entries are not removed when a socket closes: a later socket at the
	 * freed one's address (another inode) finds the old one's entry here, on
	 * its first receive, and it goes. Otherwise that socket never asked, yet
	 * every datagram it read from the server port would pass for a response
	 * to the old socket's query, and every read it made would pay the stash.
	 */
	if (*id != pf_dm_conn_id(sk)) {
		bpf_map_delete_elem(&pf_dns_udp_socks, &key);
		return;
	}
	if (!pf_iter_user_segments(&msg->msg_iter, &c))
		return;
	c.cookie = *id;
	c.sk = key;
	c.channel = PF_DNS_CHANNEL_NET;
	c.direction = PF_DNS_RESPONSE;
	bpf_map_update_elem(&pf_dl_calls, &pid_tgid, &c, BPF_ANY);
}

/* The receive copied `copied` bytes of `skb` to the caller: a response when it came from the server port. */
static __always_inline void pf_dm_udp_consumed(struct sock *sk, struct sk_buff *skb, int copied)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pf_dl_call *c = bpf_map_lookup_elem(&pf_dl_calls, &pid_tgid);
	struct pf_dl_call call;
	struct pf_dns_ends e;
	struct iovec v;
	__u32 ulen, cap;

	if (!c || c->sk != pf_dm_addr(sk))
		return;
	call = *c;
	bpf_map_delete_elem(&pf_dl_calls, &pid_tgid);
	/* A peek passes a negative count: the datagram stays for the read that takes it. */
	if (copied <= 0)
		return;
	ulen = pf_dm_udp_ends(skb, false, &e);
	if (ulen < 8 || e.remote_port != cfg_dns_port)
		return;
	/* One message per datagram: the caller's first buffer holds it (resolvers read into one). */
	if (!call.buf) {
		v.iov_base = 0;
		v.iov_len = 0;
		bpf_probe_read_kernel(&v, sizeof(v), (void *)call.iov);
		if (call.skip > v.iov_len)
			return;
		call.buf = (__u64)v.iov_base + call.skip;
		call.cap = (__u32)(v.iov_len - call.skip);
	}
	cap = call.cap < (__u32)copied ? call.cap : (__u32)copied;
	pf_dl_emit(&e, PF_DNS_CHANNEL_NET, call.cookie, PF_DNS_RESPONSE, call.buf, cap, ulen - 8, false);
}

/* A TCP socket's ends, when it talks to the server port. */
static __always_inline bool pf_dm_tcp_ends(struct sock *sk, struct pf_dns_ends *e)
{
	struct pf_flow_key k;

	if (!pf_fill_key(&k, sk, NULL) || k.proto != PF_PROTO_TCP)
		return false;
	__builtin_memcpy(e->local_addr, k.local_addr, sizeof(e->local_addr));
	__builtin_memcpy(e->remote_addr, k.remote_addr, sizeof(e->remote_addr));
	e->local_port = k.local_port;
	e->remote_port = k.remote_port;
	e->family = k.family;
	e->proto = PF_PROTO_TCP;
	e->pad[0] = 0;
	e->pad[1] = 0;
	return true;
}

/*
 * The TCP programs run for every send and receive on the node: the remote
 * port is looked at first, with one load, and nothing else is done for the
 * connections that are not DNS.
 */
static __always_inline bool pf_dm_tcp_dns(struct sock *sk)
{
	return sk->__sk_common.skc_dport == pf_dm_port();
}

/* A TCP send to the server port: its bytes, at entry (a blocking stream send moves all of them). */
static __always_inline void pf_dm_tcp_send(struct sock *sk, struct msghdr *msg, __u64 size)
{
	struct pf_dns_ends e;
	struct pf_dl_call c = {};

	if (!pf_dm_tcp_ends(sk, &e) || !pf_iter_user_segments(&msg->msg_iter, &c))
		return;
	c.cookie = pf_dm_conn_id(sk);
	c.channel = PF_DNS_CHANNEL_NET;
	c.direction = PF_DNS_QUERY;
	pf_dl_emit_call(&c, &e, size);
}

/* A TCP receive from the server port starts: remember the caller's buffers until it returns. */
static __always_inline void pf_dm_tcp_recv(struct sock *sk, struct msghdr *msg)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pf_dl_call c = {};

	if (!pf_iter_user_segments(&msg->msg_iter, &c))
		return;
	c.cookie = pf_dm_conn_id(sk);
	c.sk = pf_dm_addr(sk);
	c.channel = PF_DNS_CHANNEL_NET;
	c.direction = PF_DNS_RESPONSE;
	bpf_map_update_elem(&pf_dl_calls, &pid_tgid, &c, BPF_ANY);
}

/* The TCP receive returned `ret`: the bytes it moved into the buffers remembered at entry. */
static __always_inline void pf_dm_tcp_recv_done(struct sock *sk, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pf_dl_call *c;
	struct pf_dl_call call;
	struct pf_dns_ends e;

	c = bpf_map_lookup_elem(&pf_dl_calls, &pid_tgid);
	if (!c || c->sk != pf_dm_addr(sk))
		return;
	call = *c;
	bpf_map_delete_elem(&pf_dl_calls, &pid_tgid);
	if (ret <= 0 || !pf_dm_tcp_ends(sk, &e))
		return;
	pf_dl_emit_call(&call, &e, (__u64)ret);
}

#endif
