// What the running kernel offers: BTF, tracepoints, BTF tracepoints, kprobes.
#pragma once

#include <string>

struct btf;

class KernelProbe {
 public:
  KernelProbe();
  ~KernelProbe();
  KernelProbe(const KernelProbe&) = delete;
  KernelProbe& operator=(const KernelProbe&) = delete;

  // Main thread: is /sys/kernel/btf/vmlinux there and parseable?
  bool HasBtf();
  // Main thread: does BTF describe the tracepoint (typedef btf_trace_<name>)?
  bool HasBtfTracepoint(const std::string& name);
  // Main thread: does BTF know the kernel function (for kprobe targets)?
  bool HasFunction(const std::string& name);
  // Main thread: how many parameters the kernel function takes (its BTF
  // FUNC_PROTO), -1 when BTF does not describe it.
  int FunctionParams(const std::string& name);
  // Main thread: is events/<category>/<name> in tracefs? Mounts tracefs when absent.
  bool HasTracepoint(const std::string& category, const std::string& name);
  // Main thread: the tracefs root in use, "" when none could be found or mounted.
  const std::string& TracefsRoot();
  // Main thread: can kprobes be attached at all? `why` says what is missing.
  bool KprobesSupported(std::string* why);
  // Main thread: where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup
  // preferred, e.g. /sys/fs/cgroup/unified on hybrid hosts), "" when it is not.
  const std::string& Cgroup2Root();

 private:
  struct btf* vmlinux_ = nullptr;
  bool btfTried_ = false;
  bool tracefsTried_ = false;
  bool cgroupTried_ = false;
  std::string cgroup2_;
  std::string tracefs_;
  std::string btfError_;
};
