// Picks, per logical hook, the best program flavour the kernel supports, turns
// autoload on for it, attaches it after load, and reports what it did and why.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "KernelProbe.hh"

struct bpf_object;
struct bpf_link;

enum class HookMode { Auto, TpBtf, RawTp, Tracepoint, Fentry, Kprobe };

// DNS over local resolver sockets: off, function hooks only, or syscall tracepoints allowed too.
enum class DnsLocal { Off, Auto, Syscalls };

struct HookReportEntry {
  std::string hook;
  std::string via;
  std::string target;
  std::string reason;
};

class HookPlanner {
 public:
  HookPlanner(HookMode mode, bool udpPeers, bool dns, DnsLocal dnsLocal);
  ~HookPlanner();

  // Main thread: decide flavours (probing the kernel) and set autoload on the
  // opened, not yet loaded object. Call again after a failed attempt.
  void Plan(bpf_object* obj);
  // Main thread: after a failed load, drop the flavour owning `program` so the
  // next Plan() falls back. False when no flavour owns it (nothing to retry).
  bool ExcludeProgram(const std::string& program, const std::string& why);
  // Main thread: attach the planned flavours. False when a flavour failed to
  // attach and a fallback exists: the caller reopens the object and retries.
  bool Attach(bpf_object* obj);
  // Main thread: destroy every link (programs stay loaded until the object goes).
  void Detach();

  const std::vector<HookReportEntry>& Reports() const { return reports_; }
  // Names of the programs planned for loading (attached or load-only).
  const std::set<std::string>& Loaded() const { return loaded_; }
  const std::set<std::string>& Attached() const { return attached_; }
  // The kernel facts behind the plan (BTF function prototypes, tracefs, ...).
  KernelProbe& Probe() { return probe_; }

  struct Flavour {
    std::string via;                  // tp_btf, raw_tp, tracepoint, fentry, kprobe
    std::vector<std::string> targets; // one display target per hook of the group
    std::vector<std::string> programs;
    std::vector<std::string> probes;  // what must exist: "btf:NAME", "tp:CAT/NAME", "fn:NAME"
  };
  struct Group {
    std::string name;
    std::vector<std::string> hooks;
    std::vector<Flavour> flavours;    // best first
  };

 private:
  bool Available(const Flavour& f, std::string* why);
  // Index of the first flavour of `g` that is available and has not failed to attach (only
  // flavours named `forced`, when the group has one); -1 when none. Records why others lost.
  int PickFlavour(const Group& g, const std::string& forced);
  void Report(const Group& g, const Flavour* f, const std::string& reason);

  HookMode mode_;
  bool udpPeers_;
  bool dns_;
  DnsLocal dnsLocal_;
  KernelProbe probe_;
  std::vector<Group> groups_;
  std::map<std::string, int> choice_;          // group -> flavour index, -1 none
  std::map<std::string, bool> loadOnly_;       // group -> load without attaching
  std::map<std::string, std::string> whyNot_;  // "group/via" -> reason it was skipped
  std::vector<HookReportEntry> reports_;
  std::vector<bpf_link*> links_;
  std::set<std::string> loaded_;
  std::set<std::string> attached_;
};
