// The guest's /init (busybox sh, PID 1): load the modules, mount the host's root read-only over
// 9p (cache=loose: node starts 2-4 times faster than with cache=none, which matters under TCG;
// the files the guest runs come from a snapshot that nothing rewrites, see snapshot.ts) with
// tmpfs where tests write, mount the results share and the kernel's filesystems into
// it, bring up loopback and the NIC, run the job in a chroot of the host root (so the host's
// node and python run with their own libraries), then power off. PID 1 stays outside the chroot
// so that powering off works whatever the job did.

/** Where the writable results share appears inside the host root, in the guest. */
export const GUEST_RESULTS_DIR = '/run/procflow/results';
/** Host directories a guest sees as empty tmpfs (so nothing the guest runs may live there). */
export const GUEST_TMPFS_DIRS = ['/tmp', '/var/tmp', '/run', '/home', '/root'];
/** The tmpfs directory that hides a host path from guests, or undefined when guests see it. */
export const guestTmpfsOver = (path: string): string | undefined => GUEST_TMPFS_DIRS.find((t) => path === t || path.startsWith(`${t}/`));
/** The job script the host writes into the results share; init runs it. */
export const GUEST_JOB_FILE = 'job.sh';
/** Lines init prints on the console: the job starts (boot is over) and the job ended. */
export const READY_MARKER = 'procflow-guest: ready';
export const DONE_MARKER = 'procflow-guest: done';
/** qemu's user network: the guest's address and the host (its 127.0.0.1) as seen from the guest. */
export const GUEST_ADDRESS = '10.0.2.15/24';
export const HOST_FROM_GUEST = '10.0.2.2';
/** The list of module files (under /lib/modules in the initramfs) init loads, in order. */
export const MODULE_LIST = '/etc/procflow/modules';

const NINEP = 'trans=virtio,version=9p2000.L,msize=262144';

export const INIT_SCRIPT = `#!/bin/busybox sh
# procflow kernel matrix guest init (generated from test/matrix/guest-init.ts)
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /newroot
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
say() { echo "procflow-guest: $*"; }
halt_now() { sync; poweroff -f; echo o > /proc/sysrq-trigger; sleep 10; }
fail() { say "error: $*"; halt_now; }
warn() { say "warning: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
  [ -n "$m" ] || continue
  insmod "/lib/modules/$m" || fail "insmod $m"
done < ${MODULE_LIST}

# 9p devices probe when virtio_pci loads; give a slow guest a moment before giving up.
mount_9p() {
  for i in 1 2 3 4 5 6 7 8 9 10; do
    mount -t 9p -o "$2" "$1" "$3" 2>/dev/null && return 0
    sleep 0.3
  done
  mount -t 9p -o "$2" "$1" "$3"
}
R=/newroot
mount_9p hostroot "${NINEP},ro,cache=loose" $R || fail "cannot mount the host root (9p tag hostroot)"
for d in tmp var/tmp; do mount -t tmpfs -o mode=1777 tmpfs $R/$d || fail "tmpfs on /$d"; done
for d in run home; do mount -t tmpfs -o mode=0755 tmpfs $R/$d || fail "tmpfs on /$d"; done
mount -t tmpfs -o mode=0700 tmpfs $R/root || fail "tmpfs on /root"
mkdir -p $R${GUEST_RESULTS_DIR}
mount_9p results "${NINEP}" $R${GUEST_RESULTS_DIR} || fail "cannot mount the results share (9p tag results)"

mount -t proc proc $R/proc || fail "proc"
mount -t sysfs sysfs $R/sys || fail "sysfs"
mount -t devtmpfs devtmpfs $R/dev || fail "devtmpfs"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts || warn "devpts"
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm || warn "/dev/shm"
mount -t tracefs tracefs $R/sys/kernel/tracing || warn "tracefs"
mount -t debugfs debugfs $R/sys/kernel/debug || warn "debugfs"
mount -t bpf bpf $R/sys/fs/bpf || warn "bpffs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || warn "cgroup2"

hostname procflow-guest
ip link set lo up
ip addr add 127.0.0.1/8 dev lo 2>/dev/null
ip -6 addr add ::1/128 dev lo 2>/dev/null
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
if [ -n "$nic" ]; then
  ip link set "$nic" up && ip addr add ${GUEST_ADDRESS} dev "$nic" && ip route add default via ${HOST_FROM_GUEST} || warn "network on $nic"
else
  warn "no network interface"
fi

say "ready $(uname -r)"
chroot $R /usr/bin/env -i /bin/sh ${GUEST_RESULTS_DIR}/${GUEST_JOB_FILE}
say "done $?"
umount $R${GUEST_RESULTS_DIR}
halt_now
`;
