// The JavaScript-facing collector: opens and loads the BPF object, attaches
// hooks through HookPlanner, polls events through RingPoller, drains flows
// through FlowDrainer, and tears everything down on close() or env exit.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "FlowDrainer.hh"
#include "HookPlanner.hh"
#include "RingPoller.hh"

struct procflow;

class Collector : public Napi::ObjectWrap<Collector> {
 public:
  static Napi::Function Define(Napi::Env env);
  // JS thread: a Buffer copy of the BPF object every collector loads (the skeleton's embedded
  // bpf/build/procflow.bpf.o), so tests can compare its BTF with the decoder's layout.
  static Napi::Value BpfObject(const Napi::CallbackInfo& info);

  // JS thread: new Collector({ flowMapEntries, socketMapEntries, maxArgsBytes, ringBufferBytes, hookMode, ignorePid, udpPeers, namespaces }).
  explicit Collector(const Napi::CallbackInfo& info);
  ~Collector() override;

 private:
  // JS thread: [{ hook, via, target, reason }].
  Napi::Value Hooks(const Napi::CallbackInfo& info);
  // JS thread: [{ name, section, attached, id, runTimeNs, runCount }] for every loaded program.
  Napi::Value Programs(const Napi::CallbackInfo& info);
  // JS thread: start(onBatch(buffer, count)).
  Napi::Value Start(const Napi::CallbackInfo& info);
  // JS thread: Buffer of key|value records (see FlowDrainer).
  Napi::Value DrainFlows(const Napi::CallbackInfo& info);
  // JS thread: { eventsLost, flowMapFull, sockMapFull, execSeen, flowUpdates, eventsDroppedUser, eventsDelivered }.
  Napi::Value Counters(const Napi::CallbackInfo& info);
  // JS thread: detach, stop the poller, free the object. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info);

  // JS thread (or env teardown): the work of Close().
  void Shutdown();
  static void EnvCleanup(void* self);
  void EnsureOpen(Napi::Env env, const char* what);

  procflow* skel_ = nullptr;
  std::unique_ptr<HookPlanner> planner_;
  std::unique_ptr<RingPoller> poller_;
  std::unique_ptr<FlowDrainer> drainer_;
  uint64_t finalDelivered_ = 0;  // poller counts kept across close()
  uint64_t finalDropped_ = 0;
  bool cleanupHooked_ = false;
  napi_env env_ = nullptr;
};
