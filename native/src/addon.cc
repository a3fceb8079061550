// Module entry: the Collector class, the record layouts of bpf/procflow.h (so
// the TypeScript decoder can be checked against the C header), and kernel probes.
#include <napi.h>

#include <bpf/libbpf.h>

#include <cstddef>

#include "Collector.hh"
#include "KernelProbe.hh"
#include "procflow.h"

namespace {

#define PF_FIELD(obj, type, field) obj.Set(#field, Napi::Number::New(env, offsetof(type, field)))

// JS thread: { name: { size, offsets: { field: offset } } } for every record type.
Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  auto add = [&](const char* name, size_t size) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("size", Napi::Number::New(env, size));
    Napi::Object offs = Napi::Object::New(env);
    t.Set("offsets", offs);
    out.Set(name, t);
    return offs;
  };
  Napi::Object h = add("pf_event_header", sizeof(pf_event_header));
  PF_FIELD(h, pf_event_header, kind);
  PF_FIELD(h, pf_event_header, size);
  PF_FIELD(h, pf_event_header, time_ns);
  PF_FIELD(h, pf_event_header, pid);
  PF_FIELD(h, pf_event_header, ppid);
  PF_FIELD(h, pf_event_header, start_ns);
  PF_FIELD(h, pf_event_header, comm);
  Napi::Object x = add("pf_exec_event", sizeof(pf_exec_event));
  PF_FIELD(x, pf_exec_event, parent_start_ns);
  PF_FIELD(x, pf_exec_event, cgroup_id);
  PF_FIELD(x, pf_exec_event, uid);
  PF_FIELD(x, pf_exec_event, gid);
  PF_FIELD(x, pf_exec_event, error_flags);
  PF_FIELD(x, pf_exec_event, args_len);
  PF_FIELD(x, pf_exec_event, filename_len);
  PF_FIELD(x, pf_exec_event, cwd_len);
  PF_FIELD(x, pf_exec_event, args_truncated);
  PF_FIELD(x, pf_exec_event, filename);
  PF_FIELD(x, pf_exec_event, cwd);
  PF_FIELD(x, pf_exec_event, args);
  Napi::Object f = add("pf_fork_event", sizeof(pf_fork_event));
  PF_FIELD(f, pf_fork_event, parent_start_ns);
  Napi::Object e = add("pf_exit_event", sizeof(pf_exit_event));
  PF_FIELD(e, pf_exit_event, exit_code);
  PF_FIELD(e, pf_exit_event, signal);
  Napi::Object k = add("pf_flow_key", sizeof(pf_flow_key));
  PF_FIELD(k, pf_flow_key, local_addr);
  PF_FIELD(k, pf_flow_key, remote_addr);
  PF_FIELD(k, pf_flow_key, local_port);
  PF_FIELD(k, pf_flow_key, remote_port);
  PF_FIELD(k, pf_flow_key, tgid);
  PF_FIELD(k, pf_flow_key, family);
  PF_FIELD(k, pf_flow_key, proto);
  Napi::Object v = add("pf_flow_value", sizeof(pf_flow_value));
  PF_FIELD(v, pf_flow_value, bytes_out);
  PF_FIELD(v, pf_flow_value, bytes_in);
  PF_FIELD(v, pf_flow_value, packets_out);
  PF_FIELD(v, pf_flow_value, packets_in);
  PF_FIELD(v, pf_flow_value, first_seen_ns);
  PF_FIELD(v, pf_flow_value, last_seen_ns);
  PF_FIELD(v, pf_flow_value, pid_start_ns);
  PF_FIELD(v, pf_flow_value, tcp_started);
  PF_FIELD(v, pf_flow_value, tcp_completed);
  PF_FIELD(v, pf_flow_value, srtt_us);
  PF_FIELD(v, pf_flow_value, min_rtt_us);
  PF_FIELD(v, pf_flow_value, cwnd);
  PF_FIELD(v, pf_flow_value, mss);
  PF_FIELD(v, pf_flow_value, retransmits);
  PF_FIELD(v, pf_flow_value, lost);
  PF_FIELD(v, pf_flow_value, role);
  PF_FIELD(v, pf_flow_value, comm);
  Napi::Object c = Napi::Object::New(env);
  c.Set("PF_ARGS_MAX", PF_ARGS_MAX);
  c.Set("PF_PATH_MAX", PF_PATH_MAX);
  c.Set("PF_COMM_LEN", PF_COMM_LEN);
  c.Set("EVENT_ERROR_FILENAME", EVENT_ERROR_FILENAME);
  c.Set("EVENT_ERROR_ARGS", EVENT_ERROR_ARGS);
  c.Set("EVENT_ERROR_CWD", EVENT_ERROR_CWD);
  c.Set("EVENT_ERROR_CWD_DEPTH", EVENT_ERROR_CWD_DEPTH);
  c.Set("EVENT_ERROR_CWD_LONG", EVENT_ERROR_CWD_LONG);
  out.Set("constants", c);
  return out;
}

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Collector", Collector::Define(env));
  exports.Set("layout", Napi::Function::New(env, Layout));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." +
                                                          std::to_string(libbpf_minor_version())));
  return exports;
}

}  // namespace

NODE_API_MODULE(procflow, Init)
