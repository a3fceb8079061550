/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * DNS capture. Two halves meet through the socket cookie:
 *  - cgroup sock_addr hooks (connect, and sendmsg for unconnected UDP) run in
 *    the caller's context when a socket addresses the DNS server port, and
 *    record which process owns that socket (pf_dns_socks);
 *  - cgroup skb hooks see every packet of the cgroup tree; two bounded reads
 *    of the headers (straight from the packet, see pf_skb_peek) tell a DNS
 *    packet (egress to the server port, ingress from it) from the rest, and
 *    only those are copied to the ring buffer with their owner.
 * Packets seen from the server's side (a local stub's own socket receiving a
 * query) are left out, so a query through 127.0.0.53 shows up once for the
 * client that asked the stub and once for the stub's upstream query.
 */
#ifndef PF_LIB_DNS_H
#define PF_LIB_DNS_H

#define PF_ETH_P_IP 0x0800
#define PF_ETH_P_IPV6 0x86DD

struct pf_dns_owner {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
	char comm[PF_COMM_LEN];
};

/* Socket cookie -> the process that addressed the DNS port from it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pf_dns_owner);
} pf_dns_socks SEC(".maps");

static __always_inline void pf_dns_note_owner(struct bpf_sock_addr *ctx)
{
	struct task_struct *task;
	struct pf_dns_owner o = {};
	__u64 cookie;

	if (ctx->user_port != bpf_htons(cfg_dns_port))
		return;
	if (ctx->protocol != PF_PROTO_UDP && ctx->protocol != PF_PROTO_TCP)
		return;
	task = (struct task_struct *)bpf_get_current_task();
	cookie = bpf_get_socket_cookie(ctx);
	o.tgid = bpf_get_current_pid_tgid() >> 32;
	o.start_ns = pf_task_start_ns(task);
	bpf_get_current_comm(&o.comm, sizeof(o.comm));
	bpf_map_update_elem(&pf_dns_socks, &cookie, &o, BPF_ANY);
}

/* Where the transport header and the payload of a DNS packet start; 0 when it is not one. */
struct pf_dns_pkt {
	__u32 l4;
	__u32 payload;
	__u8 proto;
	__u8 family;
	__u16 src_port;
	__u16 dst_port;
};

/*
 * Copy `len` (a constant) header bytes at `off` of the packet. The cgroup skb
 * hooks run for every packet of the host, nearly all of them not DNS: read
 * them straight from the packet's linear data (skb->data is the network
 * header here, data_end the end of the linear part), without a helper call,
 * and through bpf_skb_load_bytes only when they lie beyond the linear part.
 * `off` is at most 0xff: an IPv4 header with options, and 13 bytes more.
 */
static __always_inline int pf_skb_peek(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	void *at;

	off &= 0xff;
	at = data + off;
	if (at + len <= end) {
		__builtin_memcpy(to, at, len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline int pf_dns_parse(struct __sk_buff *skb, bool egress, struct pf_dns_pkt *p)
{
	__u8 ip[10];
	__u16 ports[2];
	__u16 port = bpf_htons(cfg_dns_port);

	if (skb->protocol == bpf_htons(PF_ETH_P_IP)) {
		if (pf_skb_peek(skb, 0, ip, sizeof(ip)) < 0)
			return 0;
		p->family = PF_AF_INET;
		p->proto = ip[9];
		p->l4 = (ip[0] & 0x0f) * 4;
	} else if (skb->protocol == bpf_htons(PF_ETH_P_IPV6)) {
		if (pf_skb_peek(skb, 0, ip, 8) < 0)
			return 0;
		/* Extension headers are not walked: DNS does not use them. */
		p->family = PF_AF_INET6;
		p->proto = ip[6];
		p->l4 = 40;
	} else {
		return 0;
	}
	if (p->proto != PF_PROTO_UDP && p->proto != PF_PROTO_TCP)
		return 0;
	if (pf_skb_peek(skb, p->l4, ports, sizeof(ports)) < 0)
		return 0;
	/* The server's side of the conversation is not the asker's: skip it. */
	if (egress ? ports[1] != port : ports[0] != port)
		return 0;
	p->src_port = bpf_ntohs(ports[0]);
	p->dst_port = bpf_ntohs(ports[1]);
	if (p->proto == PF_PROTO_UDP) {
		p->payload = p->l4 + 8;
	} else {
		__u8 doff;

		if (pf_skb_peek(skb, p->l4 + 12, &doff, 1) < 0)
			return 0;
		p->payload = p->l4 + (doff >> 4) * 4;
	}
	/* TCP segments without data (handshake, ACKs) carry nothing to parse. */
	return skb->len > p->payload;
}

static __always_inline void pf_dns_addrs(struct __sk_buff *skb, struct pf_dns_pkt *p, bool egress,
					 struct pf_dns_event *ev)
{
	__u32 src = p->family == PF_AF_INET ? 12 : 8;
	__u32 dst = p->family == PF_AF_INET ? 16 : 24;
	__u32 len = p->family == PF_AF_INET ? 4 : 16;

	__builtin_memset(ev->local_addr, 0, sizeof(ev->local_addr));
	__builtin_memset(ev->remote_addr, 0, sizeof(ev->remote_addr));
	if (len == 4) {
		bpf_skb_load_bytes(skb, egress ? src : dst, ev->local_addr, 4);
		bpf_skb_load_bytes(skb, egress ? dst : src, ev->remote_addr, 4);
	} else {
		bpf_skb_load_bytes(skb, egress ? src : dst, ev->local_addr, 16);
		bpf_skb_load_bytes(skb, egress ? dst : src, ev->remote_addr, 16);
	}
	ev->local_port = egress ? p->src_port : p->dst_port;
	ev->remote_port = egress ? p->dst_port : p->src_port;
}

static __always_inline int pf_dns_capture(struct __sk_buff *skb, bool egress)
{
	struct pf_dns_pkt p = {};
	struct pf_dns_event *ev;
	struct pf_dns_owner *o;
	__u64 cookie;
	__u32 len;

	if (!pf_dns_parse(skb, egress, &p))
		return 1;
	pf_count(PF_CTR_DNS_SEEN);
	ev = bpf_ringbuf_reserve(&pf_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count(PF_CTR_EVENTS_LOST);
		return 1;
	}
	cookie = bpf_get_socket_cookie(skb);
	o = bpf_map_lookup_elem(&pf_dns_socks, &cookie);
	ev->hdr.kind = PF_EVENT_DNS;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.time_ns = bpf_ktime_get_boot_ns();
	ev->hdr.ppid = 0;
	if (o) {
		ev->hdr.pid = o->tgid;
		ev->hdr.start_ns = o->start_ns;
		__builtin_memcpy(ev->hdr.comm, o->comm, sizeof(ev->hdr.comm));
	} else {
		ev->hdr.pid = 0;
		ev->hdr.start_ns = 0;
		__builtin_memset(ev->hdr.comm, 0, sizeof(ev->hdr.comm));
	}
	ev->cookie = cookie;
	pf_dns_addrs(skb, &p, egress, ev);
	ev->family = p.family;
	ev->proto = p.proto;
	ev->direction = egress ? PF_DNS_QUERY : PF_DNS_RESPONSE;
	ev->channel = PF_DNS_CHANNEL_NET;
	ev->pad2 = 0;
	ev->payload_len = skb->len - p.payload;
	len = ev->payload_len;
	if (len > PF_DNS_MAX) {
		len = PF_DNS_MAX;
		pf_count(PF_CTR_DNS_CUT);
	}
	ev->captured_len = 0;
	if (len >= 1) {
		/* In [1, PF_DNS_MAX] by construction, in a form the verifier can follow. */
		barrier_var(len);
		len = ((len - 1) & (PF_DNS_MAX - 1)) + 1;
		if (bpf_skb_load_bytes(skb, p.payload, ev->payload, len) == 0)
			ev->captured_len = len;
	}
	bpf_ringbuf_submit(ev, pf_rb_flags());
	return 1;
}

#endif
