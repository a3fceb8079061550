// Module entry: the Collector class, the BPF object it loads (whose BTF the
// TypeScript decoder's layout is generated from), kernel probes, and the switch
// for the kernel's per-program run-time statistics.
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "Collector.hh"
#include "KernelProbe.hh"

namespace {

// JS thread: what the kernel offers, for checkKernelSupport().
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KernelProbe p;
  Napi::Object o = Napi::Object::New(env);
  o.Set("btf", p.HasBtf());
  o.Set("tracefs", p.TracefsRoot());
  std::string why;
  o.Set("kprobes", p.KprobesSupported(&why));
  o.Set("kprobesWhy", why);
  o.Set("tpBtfSockSendLength", p.HasBtfTracepoint("sock_send_length"));
  o.Set("tpBtfSchedProcessExec", p.HasBtfTracepoint("sched_process_exec"));
  o.Set("tracepointSockSendLength", p.HasTracepoint("sock", "sock_send_length"));
  o.Set("tracepointSchedProcessExec", p.HasTracepoint("sched", "sched_process_exec"));
  return o;
}

// JS thread: turn on the kernel's run-time statistics of every BPF program (run_time_ns,
// run_cnt) for as long as the returned file descriptor stays open; closing it turns them off
// again unless someone else still holds them on. Throws with the kernel's reason.
Napi::Value EnableRunTimeStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) {
    int err = errno;
    throw Napi::Error::New(env, std::string("BPF run-time statistics (BPF_ENABLE_STATS): ") + std::strerror(err));
  }
  return Napi::Number::New(env, fd);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Collector", Collector::Define(env));
  exports.Set("bpfObject", Napi::Function::New(env, Collector::BpfObject));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("enableRunTimeStats", Napi::Function::New(env, EnableRunTimeStats));
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." +
                                                          std::to_string(libbpf_minor_version())));
  return exports;
}

}  // namespace

NODE_API_MODULE(procflow, Init)
