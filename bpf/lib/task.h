/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Reading process facts from struct task_struct: identity, times, cwd, args. */
#ifndef PF_LIB_TASK_H
#define PF_LIB_TASK_H

#define PF_CWD_DEPTH 32

/*
 * A chain of fields from a kernel pointer. Where the program's pointers are typed (`btf`:
 * tp_btf arguments) it is a plain load the verifier checks against the kernel's BTF, a few ns;
 * otherwise (classic tracepoints, raw_tp, bpf_get_current_task()) a probe read, a helper call
 * of about 20 ns. `btf` is a constant at every call, so each program keeps one of the two.
 */
#define PF_READ(btf, src, a, ...) \
	((btf) ? ___arrow(src, a, ##__VA_ARGS__) : BPF_CORE_READ(src, a, ##__VA_ARGS__))

static __always_inline __u64 pf_task_start_ns_of(struct task_struct *task, bool btf)
{
	return PF_READ(btf, task, group_leader, start_boottime);
}

/* For untyped task pointers (bpf_get_current_task()). */
static __always_inline __u64 pf_task_start_ns(struct task_struct *task)
{
	return pf_task_start_ns_of(task, false);
}

/* Fill the common head of a ring buffer record for `task` (typed when `btf`). */
static __always_inline void pf_fill_header(struct pf_event_header *h, __u32 kind, __u32 size,
					   struct task_struct *task, bool btf)
{
	h->kind = kind;
	h->size = size;
	h->time_ns = bpf_ktime_get_boot_ns();
	h->pid = PF_READ(btf, task, tgid);
	h->ppid = PF_READ(btf, task, real_parent, tgid);
	h->start_ns = pf_task_start_ns_of(task, btf);
	BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
}

/* State of one dentry walk, carried between iterations of a bounded loop. */
struct pf_walk {
	struct pf_heap *heap;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;      /* first written byte in heap->path */
	__u32 flags;    /* EVENT_ERROR_* */
	int err;
	int done;
};

/*
 * One step towards the root: prepend "/name", or hop to the parent mount.
 * Returns 1 when the walk is over. Inlined into a plain bounded loop, not
 * a bpf_loop() callback: bpf_loop and callback subprograms need 5.17, and
 * 5.10's loader refuses an object with a callback in it.
 */
static __always_inline int pf_walk_step(struct pf_walk *w)
{
	/* Locals, not w->x, inside BPF_CORE_READ: only kernel types get relocated. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *parent;
	struct qstr name;
	__u32 len, pos;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		/* The mount's root: continue in the mount it sits on. */
		if (up == mnt) {
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = &up->mnt;
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (parent == dentry) {
		w->done = 1;
		return 1;
	}
	name = BPF_CORE_READ(dentry, d_name);
	len = name.len & (PF_SCRATCH - 1);
	pos = w->pos & (PF_SCRATCH - 1);
	if (len + 1 > pos) {
		w->flags |= EVENT_ERROR_CWD_LONG;
		w->done = 1;
		return 1;
	}
	pos -= len;
	/* pos < PF_SCRATCH and len < PF_SCRATCH keep the write inside path[2*PF_SCRATCH]. */
	if (bpf_probe_read_kernel(&w->heap->path[pos & (PF_SCRATCH - 1)], len, name.name) < 0) {
		w->err = 1;
		return 1;
	}
	pos -= 1;
	w->heap->path[pos & (PF_SCRATCH - 1)] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/*
 * Resolve a struct path to a string by walking dentries towards the root,
 * writing components backwards into heap->path. Crosses mount points through
 * struct mount and stops at the task's root (chroot aware). Returns the
 * offset of the first byte in heap->path (the string ends at PF_SCRATCH - 1,
 * NUL included), or a negative value when the path could not be read.
 */
static __always_inline int pf_path_walk(struct pf_heap *heap, struct path *path,
					struct path *root, __u32 *flags)
{
	struct pf_walk w = {};

	w.heap = heap;
	w.dentry = BPF_CORE_READ(path, dentry);
	w.vfsmnt = BPF_CORE_READ(path, mnt);
	w.mnt = container_of(w.vfsmnt, struct mount, mnt);
	w.root_dentry = BPF_CORE_READ(root, dentry);
	w.root_mnt = BPF_CORE_READ(root, mnt);
	w.pos = PF_SCRATCH - 1;
	heap->path[PF_SCRATCH - 1] = 0;
	for (int i = 0; i < PF_CWD_DEPTH; i++) {
		if (pf_walk_step(&w))
			break;
	}
	if (w.err)
		return -1;
	*flags |= w.flags;
	if (!w.done)
		*flags |= EVENT_ERROR_CWD_DEPTH;
	if (w.pos == PF_SCRATCH - 1) {
		/* The root itself. */
		w.pos -= 1;
		heap->path[PF_SCRATCH - 2] = '/';
	}
	return w.pos & (PF_SCRATCH - 1);
}

/* Copy the task's cwd into out[PF_PATH_MAX]; returns its length without the NUL. */
static __always_inline __u16 pf_read_cwd(struct pf_heap *heap, struct task_struct *task,
					 char *out, __u32 *flags, bool btf)
{
	/* The walk itself stays on probe reads: its mount hops need container_of, not typed loads. */
	struct fs_struct *fs = PF_READ(btf, task, fs);
	int pos;
	__u32 len;

	if (!fs) {
		*flags |= EVENT_ERROR_CWD;
		return 0;
	}
	pos = pf_path_walk(heap, &fs->pwd, &fs->root, flags);
	if (pos < 0) {
		*flags |= EVENT_ERROR_CWD;
		return 0;
	}
	len = (PF_SCRATCH - 1) - pos;
	if (len > PF_PATH_MAX - 1) {
		/* Keep the tail (the most specific part). */
		*flags |= EVENT_ERROR_CWD_LONG;
		pos = (PF_SCRATCH - 1) - (PF_PATH_MAX - 1);
		len = PF_PATH_MAX - 1;
	}
	/* Keep the masks: the verifier needs them even where the logic already bounds. */
	barrier_var(len);
	len &= PF_PATH_MAX - 1;
	barrier_var(pos);
	pos &= PF_SCRATCH - 1;
	if (bpf_probe_read_kernel(out, len, &heap->path[pos & (PF_SCRATCH - 1)]) < 0) {
		*flags |= EVENT_ERROR_CWD;
		return 0;
	}
	out[len] = 0;
	return len;
}

/*
 * Copy the argument area of the task's (new) mm: argv strings separated by
 * NULs. Sets *truncated when it was longer than cfg_max_args.
 */
static __always_inline __u32 pf_read_args(struct task_struct *task, char *out, __u8 *truncated,
					  __u32 *flags, bool btf)
{
	struct mm_struct *mm = PF_READ(btf, task, mm);
	unsigned long start, end;
	__u64 len, max = cfg_max_args;

	if (!mm) {
		*flags |= EVENT_ERROR_ARGS;
		return 0;
	}
	start = PF_READ(btf, mm, arg_start);
	end = PF_READ(btf, mm, arg_end);
	if (end <= start)
		return 0;
	len = end - start;
	if (max > PF_ARGS_MAX)
		max = PF_ARGS_MAX;
	if (len > max) {
		len = max;
		*truncated = 1;
	}
	if (len > PF_ARGS_MAX)
		len = PF_ARGS_MAX;
	if (bpf_probe_read_user(out, len, (void *)start) < 0) {
		*flags |= EVENT_ERROR_ARGS;
		return 0;
	}
	return len;
}

/* A kernel_cap_t as 64 bits: u32 cap[2] before 6.3 and u64 val after have the same bytes. */
static __always_inline __u64 pf_caps(const kernel_cap_t *caps)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), caps);
	return v;
}

/*
 * The credentials the new image runs with (after setuid bits applied) and
 * the audit login uid, which a login sets once and every descendant keeps.
 */
static __always_inline void pf_read_creds(struct task_struct *task, struct pf_exec_event *ev, bool btf)
{
	const struct cred *cred = PF_READ(btf, task, cred);
	__u64 uid_gid = bpf_get_current_uid_gid();

	ev->uid = (__u32)uid_gid;
	ev->gid = uid_gid >> 32;
	ev->auid = PF_AUID_UNSET;
	if (bpf_core_field_exists(task->loginuid))
		ev->auid = PF_READ(btf, task, loginuid.val);
	if (!cred) {
		ev->error_flags |= EVENT_ERROR_CREDS;
		ev->euid = ev->suid = ev->fsuid = ev->uid;
		ev->egid = ev->sgid = ev->fsgid = ev->gid;
		ev->cap_permitted = ev->cap_effective = ev->cap_inheritable = 0;
		return;
	}
	ev->euid = PF_READ(btf, cred, euid.val);
	ev->egid = PF_READ(btf, cred, egid.val);
	ev->suid = PF_READ(btf, cred, suid.val);
	ev->sgid = PF_READ(btf, cred, sgid.val);
	ev->fsuid = PF_READ(btf, cred, fsuid.val);
	ev->fsgid = PF_READ(btf, cred, fsgid.val);
	ev->cap_permitted = pf_caps(&cred->cap_permitted);
	ev->cap_effective = pf_caps(&cred->cap_effective);
	ev->cap_inheritable = pf_caps(&cred->cap_inheritable);
}

/* Inode numbers of the task's namespaces (what the links in /proc/PID/ns name). */
static __always_inline void pf_read_namespaces(struct task_struct *task, struct pf_exec_event *ev)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level;

	if (!nsp) {
		ev->error_flags |= EVENT_ERROR_NS;
		return;
	}
	ev->ns[PF_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ev->ns[PF_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ev->ns[PF_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ev->ns[PF_NS_PID_FOR_CHILDREN] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ev->ns[PF_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ev->ns[PF_NS_TIME] = BPF_CORE_READ(nsp, time_ns, ns.inum);
		ev->ns[PF_NS_TIME_FOR_CHILDREN] = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	}
	ev->ns[PF_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ev->ns[PF_NS_USER] = BPF_CORE_READ(task, cred, user_ns, ns.inum);
	/* The task's own pid namespace is the one at its pid's deepest level. */
	if (pid) {
		level = BPF_CORE_READ(pid, level);
		ev->ns[PF_NS_PID] = BPF_CORE_READ(pid, numbers[level & 31].ns, ns.inum);
	}
}

/*
 * Build and submit an exec event for `task`, the current task (typed when `btf`).
 * `filename` is a kernel string (binprm->filename, or the tracepoint's copy of it).
 */
static __always_inline int pf_emit_exec(struct task_struct *task, const char *filename, bool btf)
{
	struct pf_exec_event *ev;
	struct pf_heap *heap;
	long n;

	pf_count(PF_CTR_EXEC_SEEN);
	heap = pf_get_heap();
	if (!heap)
		return 0;
	ev = bpf_ringbuf_reserve(&pf_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count(PF_CTR_EVENTS_LOST);
		return 0;
	}
	pf_fill_header(&ev->hdr, PF_EVENT_EXEC, sizeof(*ev), task, btf);
	ev->error_flags = 0;
	ev->args_truncated = 0;
	ev->parent_start_ns = PF_READ(btf, task, real_parent, group_leader, start_boottime);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	pf_read_creds(task, ev, btf);
	/* Ring buffer memory is not zeroed: every slot is written either way. */
	__builtin_memset(ev->ns, 0, sizeof(ev->ns));
	if (cfg_exec_namespaces)
		pf_read_namespaces(task, ev);

	n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), filename);
	if (n <= 0) {
		ev->error_flags |= EVENT_ERROR_FILENAME;
		ev->filename[0] = 0;
		n = 1;
	}
	ev->filename_len = n - 1;
	ev->cwd_len = pf_read_cwd(heap, task, ev->cwd, &ev->error_flags, btf);
	ev->args_len = pf_read_args(task, ev->args, &ev->args_truncated, &ev->error_flags, btf);
	bpf_ringbuf_submit(ev, pf_rb_flags());
	return 0;
}

/* Fork of a new process (not a thread); the task pointers are typed when `btf`. */
static __always_inline int pf_emit_fork(struct task_struct *parent, struct task_struct *child, bool btf)
{
	struct pf_fork_event *ev;

	if (PF_READ(btf, child, pid) != PF_READ(btf, child, tgid))
		return 0;
	ev = bpf_ringbuf_reserve(&pf_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count(PF_CTR_EVENTS_LOST);
		return 0;
	}
	pf_fill_header(&ev->hdr, PF_EVENT_FORK, sizeof(*ev), child, btf);
	/* The child's start time is its own; its leader is itself. */
	ev->hdr.start_ns = PF_READ(btf, child, start_boottime);
	ev->hdr.ppid = PF_READ(btf, parent, tgid);
	ev->parent_start_ns = pf_task_start_ns_of(parent, btf);
	bpf_ringbuf_submit(ev, pf_rb_flags());
	return 0;
}

/* Exit of the last thread of a process; `task` is typed when `btf`. */
static __always_inline int pf_emit_exit(struct task_struct *task, bool btf)
{
	struct pf_exit_event *ev;
	int live = PF_READ(btf, task, signal, live.counter);
	__u32 code;

	/* Threads leaving a live group are not process exits. */
	if (live != 0)
		return 0;
	ev = bpf_ringbuf_reserve(&pf_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count(PF_CTR_EVENTS_LOST);
		return 0;
	}
	pf_fill_header(&ev->hdr, PF_EVENT_EXIT, sizeof(*ev), task, btf);
	code = PF_READ(btf, task, exit_code);
	ev->exit_code = (code >> 8) & 0xff;
	ev->signal = code & 0x7f;
	bpf_ringbuf_submit(ev, pf_rb_flags());
	return 0;
}

#endif
