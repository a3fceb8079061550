#include "Collector.hh"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <cstring>
#include <set>
#include <string>

#include "LibbpfLog.hh"
#include "procflow.h"
#include "procflow.layout.h"  // generated from the object's BTF: g++'s layout of procflow.h must equal clang's
#include "procflow.skel.h"

namespace {

// The verifier gives up with EAGAIN whenever a signal is pending for the loading thread (a
// profiler's SIGPROF every millisecond, a timer), which would read as a program this kernel
// refuses. Signals wait while the programs load and are delivered right after.
class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~SignalsHeld() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;

 private:
  sigset_t saved_;
};

uint32_t OptU32(const Napi::Object& o, const char* key, uint32_t def) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(o.Env(), std::string("kernel collector: option ") + key + " must be a number");
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0) {
    throw Napi::TypeError::New(o.Env(), std::string("kernel collector: option ") + key + " is out of range");
  }
  return static_cast<uint32_t>(d);
}

bool IsPowerOfTwo(uint32_t v) { return v && !(v & (v - 1)); }

// The last lines of libbpf's log: the verifier's own explanation.
std::string Tail(const std::string& text, size_t lines) {
  size_t at = text.size();
  for (size_t n = 0; n <= lines && at != std::string::npos && at > 0; ++n) at = text.rfind('\n', at - 1);
  return at == std::string::npos ? text : text.substr(at + 1);
}

}  // namespace

Napi::Function Collector::Define(Napi::Env env) {
  return DefineClass(env, "Collector",
                     {InstanceMethod("hooks", &Collector::Hooks), InstanceMethod("programs", &Collector::Programs),
                      InstanceMethod("start", &Collector::Start), InstanceMethod("drainFlows", &Collector::DrainFlows),
                      InstanceMethod("counters", &Collector::Counters), InstanceMethod("close", &Collector::Close)});
}

Napi::Value Collector::BpfObject(const Napi::CallbackInfo& info) {
  size_t size = 0;
  const void* bytes = procflow__elf_bytes(&size);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), static_cast<const uint8_t*>(bytes), size);
}

Collector::Collector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Collector>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "kernel collector: expected an options object");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  // Sizes come from JS (native/settings.ts holds their defaults); 0 here means "not given".
  uint32_t flowEntries = OptU32(o, "flowMapEntries", 0);
  uint32_t socketEntries = OptU32(o, "socketMapEntries", 0);
  uint32_t maxArgs = OptU32(o, "maxArgsBytes", PF_ARGS_MAX);
  uint32_t ringBytes = OptU32(o, "ringBufferBytes", 0);
  uint32_t ignorePid = OptU32(o, "ignorePid", 0);
  bool namespaces = false;
  if (o.Has("namespaces") && !o.Get("namespaces").IsUndefined()) {
    if (!o.Get("namespaces").IsBoolean()) throw Napi::TypeError::New(env, "kernel collector: namespaces must be a boolean");
    namespaces = o.Get("namespaces").As<Napi::Boolean>().Value();
  }
  if (flowEntries < 1) throw Napi::TypeError::New(env, "kernel collector: flowMapEntries must be at least 1");
  if (socketEntries < 1) throw Napi::TypeError::New(env, "kernel collector: socketMapEntries must be at least 1");
  if (!IsPowerOfTwo(ringBytes) || ringBytes < 4096) {
    throw Napi::TypeError::New(env, "kernel collector: ringBufferBytes must be a power of two of at least 4096");
  }
  HookMode mode = HookMode::Auto;
  if (o.Has("hookMode") && !o.Get("hookMode").IsUndefined()) {
    if (!o.Get("hookMode").IsString()) throw Napi::TypeError::New(env, "kernel collector: hookMode must be a string");
    std::string m = o.Get("hookMode").As<Napi::String>().Utf8Value();
    if (m == "auto") mode = HookMode::Auto;
    else if (m == "tp_btf") mode = HookMode::TpBtf;
    else if (m == "raw_tp") mode = HookMode::RawTp;
    else if (m == "tracepoint") mode = HookMode::Tracepoint;
    else if (m == "fentry") mode = HookMode::Fentry;
    else if (m == "kprobe") mode = HookMode::Kprobe;
    else throw Napi::TypeError::New(env, "kernel collector: hookMode must be auto, tp_btf, raw_tp, tracepoint, fentry or kprobe");
  }

  bool udpPeers = true;
  if (o.Has("udpPeers") && !o.Get("udpPeers").IsUndefined()) {
    if (!o.Get("udpPeers").IsBoolean()) throw Napi::TypeError::New(env, "kernel collector: udpPeers must be a boolean");
    udpPeers = o.Get("udpPeers").As<Napi::Boolean>().Value();
  }

  LibbpfLog::Install();
  bool dns = true;
  if (o.Has("dns") && !o.Get("dns").IsUndefined()) {
    if (!o.Get("dns").IsBoolean()) throw Napi::TypeError::New(env, "kernel collector: dns must be a boolean");
    dns = o.Get("dns").As<Napi::Boolean>().Value();
  }
  uint32_t dnsPort = OptU32(o, "dnsPort", 53);
  if (dnsPort == 0 || dnsPort > 65535) throw Napi::RangeError::New(env, "kernel collector: dnsPort must be 1 to 65535");
  DnsLocal dnsLocal = DnsLocal::Off;
  if (o.Has("dnsLocal") && !o.Get("dnsLocal").IsUndefined()) {
    if (!o.Get("dnsLocal").IsString()) throw Napi::TypeError::New(env, "kernel collector: dnsLocal must be a string");
    std::string m = o.Get("dnsLocal").As<Napi::String>().Utf8Value();
    if (m == "off") dnsLocal = DnsLocal::Off;
    else if (m == "auto") dnsLocal = DnsLocal::Auto;
    else if (m == "syscalls") dnsLocal = DnsLocal::Syscalls;
    else throw Napi::TypeError::New(env, "kernel collector: dnsLocal must be off, auto or syscalls");
  }
  // Resolver socket paths and their protocol (enum pf_dns_channel), for pf_dns_paths.
  std::vector<std::pair<std::string, uint8_t>> dnsSockets;
  if (o.Has("dnsLocalSockets") && !o.Get("dnsLocalSockets").IsUndefined()) {
    if (!o.Get("dnsLocalSockets").IsArray()) throw Napi::TypeError::New(env, "kernel collector: dnsLocalSockets must be an array");
    Napi::Array a = o.Get("dnsLocalSockets").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsObject()) throw Napi::TypeError::New(env, "kernel collector: dnsLocalSockets entries must be {path, protocol}");
      Napi::Object e = v.As<Napi::Object>();
      if (!e.Get("path").IsString() || !e.Get("protocol").IsString()) {
        throw Napi::TypeError::New(env, "kernel collector: dnsLocalSockets entries must be {path, protocol}");
      }
      std::string path = e.Get("path").As<Napi::String>().Utf8Value();
      std::string proto = e.Get("protocol").As<Napi::String>().Utf8Value();
      if (path.empty() || path.size() >= PF_UNIX_PATH_MAX) {
        throw Napi::RangeError::New(env, "kernel collector: a dnsLocalSockets path must be 1 to 107 bytes");
      }
      uint8_t channel = proto == "nscd" ? PF_DNS_CHANNEL_NSCD : proto == "varlink" ? PF_DNS_CHANNEL_VARLINK : 0;
      if (!channel) throw Napi::TypeError::New(env, "kernel collector: a dnsLocalSockets protocol must be nscd or varlink");
      dnsSockets.emplace_back(path, channel);
    }
    if (dnsSockets.size() > 16) throw Napi::RangeError::New(env, "kernel collector: at most 16 dnsLocalSockets");
  }
  planner_ = std::make_unique<HookPlanner>(mode, udpPeers, dns, dnsLocal);
  // Each attempt reopens the object; a failed flavour falls back to the next.
  for (int attempt = 0; attempt < 8; ++attempt) {
    LibbpfLog::Begin();
    skel_ = procflow__open();
    if (!skel_) {
      int e = errno;
      throw Napi::Error::New(env, std::string("kernel collector: opening the BPF object failed: ") + std::strerror(e) +
                                      "\n" + Tail(LibbpfLog::Take(), 8));
    }
    skel_->rodata->cfg_max_args = std::min<uint32_t>(maxArgs, PF_ARGS_MAX);
    skel_->rodata->cfg_ignore_tgid = ignorePid;
    skel_->rodata->cfg_exec_namespaces = namespaces ? 1 : 0;
    skel_->rodata->cfg_dns_port = static_cast<uint16_t>(dnsPort);
    bpf_map__set_max_entries(skel_->maps.pf_events, ringBytes);
    // Both halves of the double-buffered flow map.
    bpf_map__set_max_entries(skel_->maps.pf_flows_a, flowEntries);
    bpf_map__set_max_entries(skel_->maps.pf_flows_b, flowEntries);
    bpf_map__set_max_entries(skel_->maps.pf_socks, socketEntries);
    skel_->rodata->cfg_udp_recv_args = planner_->Probe().FunctionParams("udp_recvmsg") == 6 ? 6 : 5;
    skel_->rodata->cfg_tcp_recv_args = planner_->Probe().FunctionParams("tcp_recvmsg") == 6 ? 6 : 5;
    planner_->Plan(skel_->obj);
    {
      // Receives given their byte count by the socket tracepoints need no socket state after the
      // close; those measured from copied_seq (tcp_cleanup_rbuf) do.
      const std::set<std::string>& planned = planner_->Loaded();
      skel_->rodata->cfg_forget_closed = planned.count("pf_tpb_recv") || planned.count("pf_tp_recv");
    }
    int err;
    {
      SignalsHeld held;
      err = procflow__load(skel_);
    }
    if (err) {
      std::string log = LibbpfLog::Take();
      std::string failed = LibbpfLog::FailedProgram(log);
      procflow__destroy(skel_);
      skel_ = nullptr;
      // A named program failed (verifier, or a program type this kernel refuses):
      // drop its flavour and retry with the next one.
      if (!failed.empty() && planner_->ExcludeProgram(failed, LibbpfLog::Reason(log, failed))) continue;
      if (err == -EPERM || err == -EACCES) {
        throw Napi::Error::New(env, std::string("kernel collector: loading BPF programs was refused (") +
                                        std::strerror(-err) +
                                        "): needs root or CAP_BPF+CAP_PERFMON (and no lockdown forbidding BPF)\n" +
                                        Tail(log, 6));
      }
      throw Napi::Error::New(env, std::string("kernel collector: loading BPF programs failed: ") + std::strerror(-err) +
                                      "\n" + Tail(log, 12));
    }
    for (const auto& [path, channel] : dnsSockets) {
      char key[PF_UNIX_PATH_MAX] = {};
      std::memcpy(key, path.data(), path.size());
      if (bpf_map__update_elem(skel_->maps.pf_dns_paths, key, sizeof(key), &channel, sizeof(channel), BPF_ANY) != 0) {
        int e = errno;
        procflow__destroy(skel_);
        skel_ = nullptr;
        throw Napi::Error::New(env, std::string("kernel collector: filling pf_dns_paths failed: ") + std::strerror(e));
      }
    }
    if (!planner_->Attach(skel_->obj)) {
      procflow__destroy(skel_);
      skel_ = nullptr;
      continue;
    }
    break;
  }
  if (!skel_) throw Napi::Error::New(env, "kernel collector: no combination of hooks could be loaded");
  FlowDrainer::Halves halves{&skel_->bss->pf_flow_index, bpf_map__fd(skel_->maps.pf_flows_a),
                             bpf_map__fd(skel_->maps.pf_flows_b), bpf_map__fd(skel_->maps.pf_flow_sync),
                             bpf_map__fd(skel_->maps.pf_sync_inner)};
  drainer_ = std::make_unique<FlowDrainer>(halves, sizeof(pf_flow_key), sizeof(pf_flow_value), flowEntries);
  env_ = env;
  napi_add_env_cleanup_hook(env, &Collector::EnvCleanup, this);
  cleanupHooked_ = true;
}

Collector::~Collector() { Shutdown(); }

void Collector::EnvCleanup(void* self) {
  auto* c = static_cast<Collector*>(self);
  c->cleanupHooked_ = false;
  c->Shutdown();
}

void Collector::Shutdown() {
  if (poller_) {
    poller_->Stop();
    finalDelivered_ = poller_->Delivered();
    finalDropped_ = poller_->Dropped();
    poller_.reset();
  }
  if (planner_) planner_->Detach();
  if (skel_) {
    procflow__destroy(skel_);
    skel_ = nullptr;
  }
  drainer_.reset();
  if (cleanupHooked_) {
    napi_remove_env_cleanup_hook(env_, &Collector::EnvCleanup, this);
    cleanupHooked_ = false;
  }
}

void Collector::EnsureOpen(Napi::Env env, const char* what) {
  if (!skel_) throw Napi::Error::New(env, std::string("kernel collector: ") + what + " after close()");
}

Napi::Value Collector::Hooks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (!planner_) return out;
  uint32_t i = 0;
  for (const HookReportEntry& r : planner_->Reports()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("hook", r.hook);
    o.Set("via", r.via);
    o.Set("target", r.target);
    o.Set("reason", r.reason);
    out.Set(i++, o);
  }
  return out;
}

Napi::Value Collector::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (!skel_ || !planner_) return out;
  uint32_t i = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if (bpf_program__fd(prog) < 0) continue;
    Napi::Object o = Napi::Object::New(env);
    std::string name = bpf_program__name(prog);
    o.Set("name", name);
    o.Set("section", bpf_program__section_name(prog));
    o.Set("attached", planner_->Attached().count(name) > 0);
    // The kernel's view of the program: its id, and run-time statistics (which only
    // count while BPF_ENABLE_STATS or kernel.bpf_stats_enabled is on).
    bpf_prog_info pi{};
    uint32_t len = sizeof(pi);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &pi, &len) == 0) {
      o.Set("id", Napi::Number::New(env, pi.id));
      o.Set("runTimeNs", Napi::Number::New(env, static_cast<double>(pi.run_time_ns)));
      o.Set("runCount", Napi::Number::New(env, static_cast<double>(pi.run_cnt)));
    }
    out.Set(i++, o);
  }
  return out;
}

Napi::Value Collector::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureOpen(env, "start()");
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "kernel collector: start() expects a callback");
  }
  if (poller_) throw Napi::Error::New(env, "kernel collector: start() called twice");
  RingPoller::Options opts;
  poller_ = std::make_unique<RingPoller>(bpf_map__fd(skel_->maps.pf_events), opts);
  try {
    poller_->Start(env, info[0].As<Napi::Function>());
  } catch (...) {
    poller_.reset();
    throw;
  }
  return env.Undefined();
}

Napi::Value Collector::DrainFlows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureOpen(env, "drainFlows()");
  auto* bytes = new std::vector<uint8_t>();
  try {
    drainer_->Drain(bytes);
  } catch (const std::exception& e) {
    delete bytes;
    throw Napi::Error::New(env, std::string("kernel collector: ") + e.what());
  }
  if (bytes->empty()) {
    delete bytes;
    return Napi::Buffer<uint8_t>::New(env, 0);
  }
  return Napi::Buffer<uint8_t>::New(
      env, bytes->data(), bytes->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* h) { delete h; }, bytes);
}

Napi::Value Collector::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  uint64_t slots[PF_CTR_MAX] = {};
  if (skel_) {
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> per(ncpu > 0 ? ncpu : 1);
    int fd = bpf_map__fd(skel_->maps.pf_counters);
    for (uint32_t k = 0; k < PF_CTR_MAX; ++k) {
      if (bpf_map_lookup_elem(fd, &k, per.data()) != 0) continue;
      for (uint64_t v : per) slots[k] += v;
    }
  }
  o.Set("eventsLost", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_EVENTS_LOST])));
  o.Set("flowMapFull", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_FLOW_MAP_FULL])));
  o.Set("sockMapFull", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_SOCK_MAP_FULL])));
  o.Set("execSeen", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_EXEC_SEEN])));
  o.Set("flowUpdates", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_FLOW_UPDATES])));
  o.Set("dnsSeen", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_DNS_SEEN])));
  o.Set("dnsCut", Napi::Number::New(env, static_cast<double>(slots[PF_CTR_DNS_CUT])));
  o.Set("eventsDroppedUser", Napi::Number::New(env, static_cast<double>(poller_ ? poller_->Dropped() : finalDropped_)));
  o.Set("eventsDelivered", Napi::Number::New(env, static_cast<double>(poller_ ? poller_->Delivered() : finalDelivered_)));
  o.Set("drainMethod", Napi::String::New(env, drainer_ ? drainer_->Method() : ""));
  return o;
}

Napi::Value Collector::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}
