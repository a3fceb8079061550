/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * DNS over a local resolver's unix socket: nscd (/run/nscd/socket) and
 * systemd-resolved's varlink service (io.systemd.Resolve). glibc asks them
 * instead of sending a DNS packet, so the cgroup skb capture (lib/dns.h) only
 * sees the resolver's own upstream query, or nothing when it answers from its
 * cache. These programs copy what the asking process writes to, and reads
 * from, such a socket, as pf_dns_event records with family PF_AF_UNIX and the
 * channel the socket's path maps to (pf_dns_paths, filled by user space).
 *
 * Two flavours:
 *  - fentry/fexit or kprobe/kretprobe on unix_stream_sendmsg/recvmsg: only
 *    unix stream traffic pays; the peer socket's bound path says whether the
 *    socket talks to a resolver (the resolver's accepted socket carries the
 *    listening path; the client's own socket is unbound, so a resolver's
 *    replies, seen from its side, never match);
 *  - syscall tracepoints (connect, close and the read/write family) where the
 *    kernel has neither: a connect to a resolver path marks (tgid, fd). Every
 *    task's syscalls then take the slow path, so user space attaches this one
 *    only when asked to (dns_local: syscalls).
 */
#ifndef PF_LIB_DNS_LOCAL_H
#define PF_LIB_DNS_LOCAL_H

#define PF_AF_UNIX_VALUE 1

struct pf_dns_path {
	char path[PF_UNIX_PATH_MAX];
};

/* Resolver socket path -> enum pf_dns_channel. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct pf_dns_path);
	__type(value, __u8);
} pf_dns_paths SEC(".maps");

/* Segments of a scattered read or write copied at most (nscd answers gethostbyname with readv). */
#define PF_DL_SEGS 4

/* One call in flight on a resolver socket, from syscall (or function) entry to return. */
struct pf_dl_call {
	__u64 buf;        /* one user buffer; 0 when iov names the segments */
	__u64 iov;        /* struct iovec array: user memory (syscalls) or kernel memory (an iov_iter's) */
	__u64 cookie;     /* the connection */
	__u32 cap;        /* bytes buf holds */
	__u32 fd;
	__u32 nsegs;      /* entries of iov */
	__u32 skip;       /* bytes of the first segment already used (iov_offset) */
	__u8 channel;
	__u8 direction;   /* enum pf_dns_direction; 0 for a connect */
	__u8 iov_kernel;
	__u8 pad[5];
	__u64 sk;         /* the socket of a call on a network socket (lib/dns-msg.h) */
};

/* A network socket's ends, as a record names them (lib/dns-msg.h); NULL for a unix socket. */
struct pf_dns_ends {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
	__u8 proto;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* pid_tgid */
	__type(value, struct pf_dl_call);
} pf_dl_calls SEC(".maps");

struct pf_dl_fd {
	__u32 tgid;
	__u32 fd;
};

struct pf_dl_conn {
	__u64 cookie;
	__u8 channel;
	__u8 pad[7];
};

/* (tgid, fd) -> the resolver connection it holds (syscall flavour). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pf_dl_fd);
	__type(value, struct pf_dl_conn);
} pf_dl_fds SEC(".maps");

/*
 * Copy `wire` bytes the caller wrote or read (at most `cap` of them are in `buf`, user memory, or
 * kernel memory when `kernel`) to the ring buffer, with the socket's ends (NULL: a unix socket).
 */
static __always_inline void pf_dl_emit(const struct pf_dns_ends *ends, __u8 channel, __u64 cookie, __u8 direction,
				       __u64 buf, __u32 cap, __u32 wire, bool kernel)
{
	struct pf_dns_event *ev;
	__u32 len;

	pf_count(PF_CTR_DNS_SEEN);
	ev = bpf_ringbuf_reserve(&pf_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count(PF_CTR_EVENTS_LOST);
		return;
	}
	pf_fill_header(&ev->hdr, PF_EVENT_DNS, sizeof(*ev), (struct task_struct *)bpf_get_current_task(), false);
	ev->hdr.ppid = 0;
	ev->cookie = cookie;
	if (ends) {
		__builtin_memcpy(ev->local_addr, ends->local_addr, sizeof(ev->local_addr));
		__builtin_memcpy(ev->remote_addr, ends->remote_addr, sizeof(ev->remote_addr));
		ev->local_port = ends->local_port;
		ev->remote_port = ends->remote_port;
		ev->family = ends->family;
		ev->proto = ends->proto;
	} else {
		__builtin_memset(ev->local_addr, 0, sizeof(ev->local_addr));
		__builtin_memset(ev->remote_addr, 0, sizeof(ev->remote_addr));
		ev->local_port = 0;
		ev->remote_port = 0;
		ev->family = PF_AF_UNIX_VALUE;
		ev->proto = 0;
	}
	ev->direction = direction;
	ev->channel = channel;
	ev->payload_len = wire;
	ev->pad2 = 0;
	len = wire < cap ? wire : cap;
	if (len > PF_DNS_MAX) {
		len = PF_DNS_MAX;
		pf_count(PF_CTR_DNS_CUT);
	}
	ev->captured_len = 0;
	if (len >= 1) {
		barrier_var(len);
		len = ((len - 1) & (PF_DNS_MAX - 1)) + 1;
		if ((kernel ? bpf_probe_read_kernel(ev->payload, len, (void *)buf)
			    : bpf_probe_read_user(ev->payload, len, (void *)buf)) == 0)
			ev->captured_len = len;
	}
	bpf_ringbuf_submit(ev, pf_rb_flags());
}

/*
 * The `total` bytes a call moved, one record per segment (user space joins the records of a
 * connection in order); what lies beyond PF_DL_SEGS segments goes as a record with nothing
 * captured, so user space knows bytes are missing.
 */
static __always_inline void pf_dl_emit_call(const struct pf_dl_call *c, const struct pf_dns_ends *ends, __u64 total)
{
	struct iovec v;
	__u64 left = total, n, len;
	int i;

	if (!c->iov) {
		pf_dl_emit(ends, c->channel, c->cookie, c->direction, c->buf, c->cap, (__u32)total, false);
		return;
	}
	for (i = 0; i < PF_DL_SEGS; i++) {
		if (!left || i >= c->nsegs)
			break;
		v.iov_base = 0;
		v.iov_len = 0;
		if (c->iov_kernel)
			bpf_probe_read_kernel(&v, sizeof(v), (void *)(c->iov + i * sizeof(v)));
		else
			bpf_probe_read_user(&v, sizeof(v), (void *)(c->iov + i * sizeof(v)));
		len = v.iov_len;
		if (i == 0) {
			if (c->skip > len)
				return;
			len -= c->skip;
			v.iov_base = (void *)((__u64)v.iov_base + c->skip);
		}
		n = len < left ? len : left;
		if (!n)
			continue;
		pf_dl_emit(ends, c->channel, c->cookie, c->direction, (__u64)v.iov_base, (__u32)n, (__u32)n, false);
		left -= n;
	}
	if (left)
		pf_dl_emit(ends, c->channel, c->cookie, c->direction, 0, 0, (__u32)left, false);
}

static __always_inline void pf_dl_finish(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pf_dl_call *c = bpf_map_lookup_elem(&pf_dl_calls, &id);
	struct pf_dl_call call;

	if (!c)
		return;
	call = *c;
	bpf_map_delete_elem(&pf_dl_calls, &id);
	if (ret <= 0)
		return;
	pf_dl_emit_call(&call, NULL, (__u64)ret);
}

/* ---- function flavour: unix_stream_sendmsg / unix_stream_recvmsg ---------- */

/* 5.10-5.13 name the iterator's type `type` (ITER_IOVEC = 4, plus a direction bit). */
struct iov_iter___v510 {
	unsigned int type;
} __attribute__((preserve_access_index));

/* Before 6.4 the iovec pointer is `iov`. */
struct iov_iter___v63 {
	const struct iovec *iov;
} __attribute__((preserve_access_index));

/* Where an iterator's bytes are, into `c`: one user buffer, or a kernel copy of a user iovec array; false otherwise. */
static __always_inline bool pf_iter_user_segments(struct iov_iter *it, struct pf_dl_call *c)
{
	__u64 off = BPF_CORE_READ(it, iov_offset);

	if (bpf_core_field_exists(it->iter_type)) {
		int t = BPF_CORE_READ(it, iter_type);

		if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) &&
		    t == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
			c->buf = (__u64)BPF_CORE_READ(it, ubuf) + off;
			c->cap = (__u32)BPF_CORE_READ(it, count);
			return c->buf != 0;
		}
		if (t != bpf_core_enum_value(enum iter_type, ITER_IOVEC))
			return false;
	} else {
		struct iov_iter___v510 *old = (void *)it;

		if (!(BPF_CORE_READ(old, type) & 4))
			return false;
	}
	if (bpf_core_field_exists(it->__iov))
		c->iov = (__u64)BPF_CORE_READ(it, __iov);
	else
		c->iov = (__u64)BPF_CORE_READ((struct iov_iter___v63 *)it, iov);
	c->nsegs = (__u32)BPF_CORE_READ(it, nr_segs);
	c->skip = (__u32)off;
	c->iov_kernel = 1;
	return c->iov != 0;
}

/* The resolver channel a unix socket talks to (its peer's bound path), 0 when none. */
static __always_inline __u8 pf_dl_sock_channel(struct socket *sock, __u64 *cookie)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	struct sock *peer;
	struct unix_address *addr;
	struct pf_dns_path key = {};
	__u8 *channel;

	if (!sk)
		return 0;
	peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
	if (!peer)
		return 0;
	addr = BPF_CORE_READ((struct unix_sock *)peer, addr);
	if (!addr)
		return 0;
	if (bpf_probe_read_kernel_str(key.path, sizeof(key.path), &addr->name[0].sun_path) <= 1)
		return 0;
	channel = bpf_map_lookup_elem(&pf_dns_paths, &key);
	if (!channel)
		return 0;
	/*
	 * The connection: a freed socket's memory comes back with the next connection (glibc opens
	 * one per nscd request), so the socket inode's number goes with the pointer.
	 */
	*cookie = (__u64)sk ^ ((__u64)BPF_CORE_READ(container_of(sock, struct socket_alloc, socket), vfs_inode.i_ino) << 32);
	return *channel;
}

static __always_inline void pf_dl_fn_send(struct socket *sock, struct msghdr *msg, __u64 len)
{
	struct pf_dl_call c = {};

	c.channel = pf_dl_sock_channel(sock, &c.cookie);
	if (!c.channel || !pf_iter_user_segments(&msg->msg_iter, &c))
		return;
	c.direction = PF_DNS_QUERY;
	/* Sent at entry: a stream send moves all of it, or fails before moving any. */
	pf_dl_emit_call(&c, NULL, len);
}

static __always_inline void pf_dl_fn_recv(struct socket *sock, struct msghdr *msg)
{
	struct pf_dl_call c = {};
	__u64 id = bpf_get_current_pid_tgid();

	c.channel = pf_dl_sock_channel(sock, &c.cookie);
	if (!c.channel || !pf_iter_user_segments(&msg->msg_iter, &c))
		return;
	c.direction = PF_DNS_RESPONSE;
	bpf_map_update_elem(&pf_dl_calls, &id, &c, BPF_ANY);
}

/* ---- syscall flavour ------------------------------------------------------ */

static __always_inline void pf_dl_sc_connect(int fd, const void *uaddr, __u64 addrlen)
{
	struct pf_dns_path key = {};
	struct pf_dl_call c = {};
	__u64 id = bpf_get_current_pid_tgid();
	__u16 family = 0;
	__u32 n;
	__u8 *channel;

	if (addrlen <= 2 || bpf_probe_read_user(&family, sizeof(family), uaddr) < 0 || family != PF_AF_UNIX_VALUE)
		return;
	/* sun_path need not end with a NUL inside addrlen: read no further than the caller gave. */
	n = addrlen - 2 > PF_UNIX_PATH_MAX - 1 ? PF_UNIX_PATH_MAX - 1 : (__u32)(addrlen - 2);
	if (bpf_probe_read_user_str(key.path, n + 1, (const char *)uaddr + 2) <= 1)
		return;
	channel = bpf_map_lookup_elem(&pf_dns_paths, &key);
	if (!channel)
		return;
	c.channel = *channel;
	c.fd = (__u32)fd;
	bpf_map_update_elem(&pf_dl_calls, &id, &c, BPF_ANY);
}

static __always_inline void pf_dl_sc_connected(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pf_dl_call *c = bpf_map_lookup_elem(&pf_dl_calls, &id);
	struct pf_dl_fd key;
	struct pf_dl_conn conn = {};

	if (!c)
		return;
	key.tgid = id >> 32;
	key.fd = c->fd;
	conn.channel = c->channel;
	/* A unix stream connect completes at once, or fails; -EINPROGRESS is not one of its answers. */
	if (ret == 0) {
		conn.cookie = bpf_ktime_get_boot_ns() ^ ((__u64)key.tgid << 44) ^ key.fd;
		bpf_map_update_elem(&pf_dl_fds, &key, &conn, BPF_ANY);
	}
	bpf_map_delete_elem(&pf_dl_calls, &id);
}

static __always_inline void pf_dl_sc_close(int fd)
{
	struct pf_dl_fd key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = (__u32)fd };

	bpf_map_delete_elem(&pf_dl_fds, &key);
}

/* A read or write of `cap` bytes at `buf` on `fd` starts: remember it when fd is a resolver connection. */
static __always_inline void pf_dl_sc_io(int fd, __u64 buf, __u64 cap, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pf_dl_fd key = { .tgid = id >> 32, .fd = (__u32)fd };
	struct pf_dl_conn *conn = bpf_map_lookup_elem(&pf_dl_fds, &key);
	struct pf_dl_call c = {};

	if (!conn || !buf)
		return;
	c.buf = buf;
	c.cap = cap > 0xffffffffULL ? 0xffffffff : (__u32)cap;
	c.cookie = conn->cookie;
	c.channel = conn->channel;
	c.direction = direction;
	c.fd = (__u32)fd;
	bpf_map_update_elem(&pf_dl_calls, &id, &c, BPF_ANY);
}

/* A readv/writev (or recvmsg/sendmsg) of the user iovec array `uiov` on fd starts. */
static __always_inline void pf_dl_sc_iov(int fd, const struct iovec *uiov, __u64 nsegs, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pf_dl_fd key = { .tgid = id >> 32, .fd = (__u32)fd };
	struct pf_dl_conn *conn = bpf_map_lookup_elem(&pf_dl_fds, &key);
	struct pf_dl_call c = {};

	if (!conn || !uiov || !nsegs)
		return;
	c.iov = (__u64)uiov;
	c.nsegs = nsegs > PF_DL_SEGS ? PF_DL_SEGS : (__u32)nsegs;
	c.cookie = conn->cookie;
	c.channel = conn->channel;
	c.direction = direction;
	c.fd = (__u32)fd;
	bpf_map_update_elem(&pf_dl_calls, &id, &c, BPF_ANY);
}

static __always_inline void pf_dl_sc_msg(int fd, const struct user_msghdr *umsg, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pf_dl_fd key = { .tgid = id >> 32, .fd = (__u32)fd };
	struct user_msghdr m = {};

	/* Most sendmsg/recvmsg calls are not on a resolver socket: look before reading the header. */
	if (!bpf_map_lookup_elem(&pf_dl_fds, &key))
		return;
	if (bpf_probe_read_user(&m, sizeof(m), umsg) < 0)
		return;
	pf_dl_sc_iov(fd, m.msg_iov, m.msg_iovlen, direction);
}

#endif
