#include "KernelProbe.hh"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

KernelProbe::KernelProbe() = default;

KernelProbe::~KernelProbe() {
  if (vmlinux_) btf__free(vmlinux_);
}

bool KernelProbe::HasBtf() {
  if (!btfTried_) {
    btfTried_ = true;
    vmlinux_ = btf__load_vmlinux_btf();
    if (!vmlinux_) vmlinux_ = nullptr;
  }
  return vmlinux_ != nullptr;
}

bool KernelProbe::HasBtfTracepoint(const std::string& name) {
  if (!HasBtf()) return false;
  return btf__find_by_name_kind(vmlinux_, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF) > 0;
}

bool KernelProbe::HasFunction(const std::string& name) {
  if (!HasBtf()) return false;
  return btf__find_by_name_kind(vmlinux_, name.c_str(), BTF_KIND_FUNC) > 0;
}

int KernelProbe::FunctionParams(const std::string& name) {
  if (!HasBtf()) return -1;
  int id = btf__find_by_name_kind(vmlinux_, name.c_str(), BTF_KIND_FUNC);
  if (id <= 0) return -1;
  const struct btf_type* fn = btf__type_by_id(vmlinux_, id);
  const struct btf_type* proto = fn ? btf__type_by_id(vmlinux_, fn->type) : nullptr;
  if (!proto || !btf_is_func_proto(proto)) return -1;
  return btf_vlen(proto);
}

const std::string& KernelProbe::TracefsRoot() {
  if (tracefsTried_) return tracefs_;
  tracefsTried_ = true;
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (Exists(std::string(dir) + "/events")) {
      tracefs_ = dir;
      return tracefs_;
    }
  }
  // Not mounted: try, as libbpf needs it to resolve tracepoint ids.
  if (Exists("/sys/kernel/tracing") &&
      mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 &&
      Exists("/sys/kernel/tracing/events")) {
    tracefs_ = "/sys/kernel/tracing";
  }
  return tracefs_;
}

bool KernelProbe::HasTracepoint(const std::string& category, const std::string& name) {
  const std::string& root = TracefsRoot();
  if (root.empty()) return false;
  return Exists(root + "/events/" + category + "/" + name);
}

bool KernelProbe::KprobesSupported(std::string* why) {
  // libbpf attaches kprobes through the perf "kprobe" PMU, or legacy kprobe_events.
  if (Exists("/sys/bus/event_source/devices/kprobe/type")) return true;
  const std::string& root = TracefsRoot();
  if (!root.empty() && Exists(root + "/kprobe_events")) return true;
  if (why) {
    *why = "kernel has no kprobe support (no perf kprobe PMU, no kprobe_events: CONFIG_KPROBES unset)";
  }
  return false;
}

const std::string& KernelProbe::Cgroup2Root() {
  if (!cgroupTried_) {
    cgroupTried_ = true;
    // /proc/self/mounts: "<source> <mountpoint> <fstype> ..." (mount points
    // never contain spaces unescaped).
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
      std::istringstream fields(line);
      std::string source, where, type;
      if (!(fields >> source >> where >> type) || type != "cgroup2") continue;
      if (cgroup2_.empty() || where == "/sys/fs/cgroup") cgroup2_ = where;
    }
  }
  return cgroup2_;
}
