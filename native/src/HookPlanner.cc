#include "HookPlanner.hh"

#include <bpf/libbpf.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace {

using Flavour = HookPlanner::Flavour;
using Group = HookPlanner::Group;

// The catalogue: every logical hook and its flavours, best first. Program
// names match SEC() functions in bpf/procflow.bpf.c.
std::vector<Group> Catalogue() {
  std::vector<Group> g;
  for (const char* ev : {"exec", "fork", "exit"}) {
    std::string tp = std::string("sched_process_") + ev;
    Group grp{ev, {ev}, {{"tp_btf", {"tp_btf/" + tp}, {std::string("pf_tpb_") + ev}, {"btf:" + tp}}}};
    if (grp.name == "fork") {
      // The classic fork tracepoint cannot tell threads from processes; raw_tp can.
      grp.flavours.push_back({"raw_tp", {"raw_tp/" + tp}, {"pf_rtp_fork"}, {"tp:sched/" + tp}});
    }
    grp.flavours.push_back({"tracepoint", {"tracepoint/sched/" + tp}, {std::string("pf_tp_") + ev}, {"tp:sched/" + tp}});
    g.push_back(grp);
  }
  g.push_back({"send",
               {"tcp_send", "udp_send"},
               {{"tp_btf", {"tp_btf/sock_send_length", "tp_btf/sock_send_length"}, {"pf_tpb_send"}, {"btf:sock_send_length"}},
                {"tracepoint",
                 {"tracepoint/sock/sock_send_length", "tracepoint/sock/sock_send_length"},
                 {"pf_tp_send"},
                 {"tp:sock/sock_send_length"}},
                {"fentry",
                 {"fexit/tcp_sendmsg", "fexit/udp_sendmsg+udpv6_sendmsg"},
                 {"pf_fx_tcp_send", "pf_fx_udp_send", "pf_fx_udp6_send"},
                 {"btf:", "fn:tcp_sendmsg", "fn:udp_sendmsg", "fn:udpv6_sendmsg"}},
                {"kprobe",
                 {"kprobe+kretprobe/tcp_sendmsg", "kprobe/udp_sendmsg+udpv6_sendmsg"},
                 {"pf_kp_tcp_send", "pf_kr_tcp_send", "pf_kp_udp_send", "pf_kp_udp6_send"},
                 {"fn:tcp_sendmsg", "fn:udp_sendmsg", "fn:udpv6_sendmsg"}}}});
  g.push_back({"recv",
               {"tcp_recv", "udp_recv"},
               {{"tp_btf", {"tp_btf/sock_recv_length", "tp_btf/sock_recv_length"}, {"pf_tpb_recv"}, {"btf:sock_recv_length"}},
                {"tracepoint",
                 {"tracepoint/sock/sock_recv_length", "tracepoint/sock/sock_recv_length"},
                 {"pf_tp_recv"},
                 {"tp:sock/sock_recv_length"}},
                {"fentry",
                 {"fentry/tcp_cleanup_rbuf", "fexit/udp_recvmsg+udpv6_recvmsg"},
                 {"pf_fe_tcp_rbuf", "pf_fx_udp_recv", "pf_fx_udp6_recv"},
                 {"btf:", "fn:tcp_cleanup_rbuf", "fn:udp_recvmsg", "fn:udpv6_recvmsg"}},
                {"kprobe",
                 {"kprobe/tcp_cleanup_rbuf", "kprobe+kretprobe/udp_recvmsg+udpv6_recvmsg"},
                 {"pf_kp_tcp_rbuf", "pf_kp_udp_recv", "pf_kr_udp_recv", "pf_kp_udp6_recv", "pf_kr_udp6_recv"},
                 {"fn:tcp_cleanup_rbuf", "fn:udp_recvmsg", "fn:udpv6_recvmsg"}}}});
  g.push_back({"tcp_state",
               {"tcp_state"},
               {{"tp_btf", {"tp_btf/inet_sock_set_state"}, {"pf_tpb_state"}, {"btf:inet_sock_set_state"}},
                {"tracepoint", {"tracepoint/sock/inet_sock_set_state"}, {"pf_tp_state"}, {"tp:sock/inet_sock_set_state"}}}});
  g.push_back({"udp_peer",
               {"udp_peer"},
               {{"cgroup",
                 {"cgroup/sendmsg4+sendmsg6+recvmsg4+recvmsg6"},
                 {"pf_cg_send4", "pf_cg_send6", "pf_cg_recv4", "pf_cg_recv6"},
                 {"cgroup2:"}},
                {"tracepoint",
                 {"tracepoint/syscalls/sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg}"},
                 {"pf_sc_sendto", "pf_sc_sendmsg", "pf_sc_recvfrom", "pf_sc_recvmsg", "pf_sc_recvfrom_x", "pf_sc_recvmsg_x"},
                 {"tp:syscalls/sys_enter_sendto", "tp:syscalls/sys_enter_sendmsg", "tp:syscalls/sys_enter_recvfrom",
                  "tp:syscalls/sys_enter_recvmsg", "tp:syscalls/sys_exit_recvfrom", "tp:syscalls/sys_exit_recvmsg"}}}});
  g.push_back({"dns",
               {"dns"},
               {{"fentry",
                 {"fentry/ip_send_skb+ip6_send_skb, fentry/udp_recvmsg+udpv6_recvmsg+skb_consume_udp, "
                  "fentry/tcp_sendmsg, fentry+fexit/tcp_recvmsg"},
                 {"pf_dm_usend4", "pf_dm_usend6", "pf_dm_urecv4", "pf_dm_urecv6", "pf_dm_ucons", "pf_dm_tsend",
                  "pf_dm_trecv", "pf_dm_trecv_x"},
                 {"btf:", "fn:ip_send_skb", "fn:ip6_send_skb", "fn:udp_recvmsg", "fn:udpv6_recvmsg", "fn:skb_consume_udp",
                  "fn:tcp_sendmsg", "fn:tcp_recvmsg"}},
                {"cgroup",
                 {"cgroup_skb/egress+ingress, cgroup/connect4+connect6+sendmsg4+sendmsg6"},
                 {"pf_dns_conn4", "pf_dns_conn6", "pf_dns_send4", "pf_dns_send6", "pf_dns_egress", "pf_dns_ingress"},
                 {"cgroup2:"}}}});
  g.push_back({"dns_local",
               {"dns_local"},
               {{"fentry",
                 {"fentry+fexit/unix_stream_sendmsg+unix_stream_recvmsg"},
                 {"pf_fe_unix_send", "pf_fe_unix_recv", "pf_fx_unix_recv"},
                 {"btf:", "fn:unix_stream_sendmsg", "fn:unix_stream_recvmsg"}},
                {"kprobe",
                 {"kprobe+kretprobe/unix_stream_sendmsg+unix_stream_recvmsg"},
                 {"pf_kp_unix_send", "pf_kp_unix_recv", "pf_kr_unix_recv"},
                 {"fn:unix_stream_sendmsg", "fn:unix_stream_recvmsg"}},
                {"tracepoint",
                 {"tracepoint/syscalls/sys_{enter,exit}_{connect,close,read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg}"},
                 {"pf_dl_conn", "pf_dl_conn_x", "pf_dl_close", "pf_dl_wr", "pf_dl_sendto", "pf_dl_sendmsg", "pf_dl_writev",
                  "pf_dl_rd", "pf_dl_recvfrom", "pf_dl_recvmsg", "pf_dl_readv", "pf_dl_wr_x", "pf_dl_sendto_x",
                  "pf_dl_sendmsg_x", "pf_dl_writev_x", "pf_dl_rd_x", "pf_dl_recvfr_x", "pf_dl_recvmsg_x", "pf_dl_readv_x"},
                 {"tp:syscalls/sys_enter_connect", "tp:syscalls/sys_exit_connect", "tp:syscalls/sys_enter_close",
                  "tp:syscalls/sys_enter_write", "tp:syscalls/sys_exit_write", "tp:syscalls/sys_enter_read",
                  "tp:syscalls/sys_exit_read", "tp:syscalls/sys_enter_sendto", "tp:syscalls/sys_enter_recvfrom",
                  "tp:syscalls/sys_enter_sendmsg", "tp:syscalls/sys_enter_recvmsg", "tp:syscalls/sys_enter_writev",
                  "tp:syscalls/sys_enter_readv"}}}});
  return g;
}

const char* ModeVia(HookMode mode) {
  switch (mode) {
    case HookMode::TpBtf: return "tp_btf";
    case HookMode::RawTp: return "raw_tp";
    case HookMode::Tracepoint: return "tracepoint";
    case HookMode::Kprobe: return "kprobe";
    case HookMode::Fentry: return "fentry";
    default: return "";
  }
}

}  // namespace

HookPlanner::HookPlanner(HookMode mode, bool udpPeers, bool dns, DnsLocal dnsLocal)
    : mode_(mode), udpPeers_(udpPeers), dns_(dns), dnsLocal_(dnsLocal), groups_(Catalogue()) {}

HookPlanner::~HookPlanner() { Detach(); }

bool HookPlanner::Available(const Flavour& f, std::string* why) {
  if (f.via == "kprobe" && !probe_.KprobesSupported(why)) return false;
  for (const std::string& p : f.probes) {
    std::string kind = p.substr(0, p.find(':'));
    std::string what = p.substr(p.find(':') + 1);
    if (kind == "btf") {
      if (!probe_.HasBtf()) {
        *why = "no kernel BTF (/sys/kernel/btf/vmlinux)";
        return false;
      }
      if (!what.empty() && !probe_.HasBtfTracepoint(what)) {
        *why = "kernel BTF has no btf_trace_" + what + " (tracepoint missing in this kernel)";
        return false;
      }
    } else if (kind == "tp") {
      if (probe_.TracefsRoot().empty()) {
        *why = "tracefs not mounted and could not be mounted at /sys/kernel/tracing";
        return false;
      }
      if (!probe_.HasTracepoint(what.substr(0, what.find('/')), what.substr(what.find('/') + 1))) {
        *why = "no tracefs event " + what;
        return false;
      }
    } else if (kind == "cgroup2") {
      if (probe_.Cgroup2Root().empty()) {
        *why = "no cgroup v2 hierarchy mounted (no cgroup2 entry in /proc/self/mounts)";
        return false;
      }
    } else if (kind == "fn") {
      if (f.via == "fentry" && !probe_.HasFunction(what)) {
        *why = "kernel function " + what + " not in BTF (a trampoline needs its BTF prototype)";
        return false;
      }
      if (probe_.HasBtf() && !probe_.HasFunction(what)) {
        *why = "kernel function " + what + " not found in BTF";
        return false;
      }
    }
  }
  return true;
}

int HookPlanner::PickFlavour(const Group& g, const std::string& forced) {
  bool hasForced = false;
  for (const Flavour& f : g.flavours) hasForced |= (!forced.empty() && f.via == forced);
  for (size_t i = 0; i < g.flavours.size(); ++i) {
    const Flavour& f = g.flavours[i];
    if (hasForced && f.via != forced) continue;
    std::string key = g.name + "/" + f.via;
    if (whyNot_.count(key) && whyNot_[key].rfind("failed", 0) == 0) continue;
    if (g.name == "dns_local" && f.via == "tracepoint" && dnsLocal_ != DnsLocal::Syscalls) {
      whyNot_[key] = "not allowed: syscall tracepoints slow every syscall of every task (dns_local: syscalls allows them)";
      continue;
    }
    std::string why;
    if (!Available(f, &why)) {
      whyNot_[key] = why;
      continue;
    }
    return static_cast<int>(i);
  }
  return -1;
}

void HookPlanner::Plan(bpf_object* obj) {
  choice_.clear();
  loadOnly_.clear();
  loaded_.clear();
  std::string forced = ModeVia(mode_);
  bool needPeer = false;
  for (const Group& g : groups_) {
    if (g.name == "udp_peer") continue;  // decided below, depends on send/recv
    if ((g.name == "dns" || g.name == "dns_local") && !dns_) {
      choice_[g.name] = -1;
      continue;
    }
    if (g.name == "dns_local" && dnsLocal_ == DnsLocal::Off) {
      choice_[g.name] = -1;
      continue;
    }
    bool hasForced = false;
    for (const Flavour& f : g.flavours) hasForced |= (!forced.empty() && f.via == forced);
    int chosen = PickFlavour(g, forced);
    if (chosen < 0 && hasForced && forced == "kprobe") {
      // Forced kprobes the kernel cannot attach: still load them, so the
      // verifier checks them, and report that nothing is attached.
      for (size_t i = 0; i < g.flavours.size(); ++i) {
        if (g.flavours[i].via == "kprobe") chosen = static_cast<int>(i);
      }
      loadOnly_[g.name] = true;
    }
    choice_[g.name] = chosen;
    if (chosen >= 0 && !loadOnly_[g.name] && (g.name == "send" || g.name == "recv") &&
        g.flavours[chosen].via != "kprobe" && g.flavours[chosen].via != "fentry") {
      needPeer = true;
    }
  }
  for (const Group& g : groups_) {
    if (g.name != "udp_peer") continue;
    choice_[g.name] = needPeer && udpPeers_ ? PickFlavour(g, forced) : -1;
  }

  // Autoload exactly the chosen programs.
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) bpf_program__set_autoload(prog, false);
  for (const Group& g : groups_) {
    int c = choice_[g.name];
    if (c < 0) continue;
    for (const std::string& name : g.flavours[c].programs) {
      bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
      if (!p) continue;
      bpf_program__set_autoload(p, true);
      loaded_.insert(name);
    }
  }
}

bool HookPlanner::ExcludeProgram(const std::string& program, const std::string& why) {
  for (const Group& g : groups_) {
    int c = choice_.count(g.name) ? choice_[g.name] : -1;
    if (c < 0) continue;
    const Flavour& f = g.flavours[c];
    for (const std::string& p : f.programs) {
      if (p == program) {
        whyNot_[g.name + "/" + f.via] = "failed to load: " + why;
        return true;
      }
    }
  }
  return false;
}

void HookPlanner::Report(const Group& g, const Flavour* f, const std::string& reason) {
  std::string skipped;
  for (const Flavour& other : g.flavours) {
    if (f && other.via == f->via) break;
    auto it = whyNot_.find(g.name + "/" + other.via);
    if (it == whyNot_.end()) continue;
    skipped += (skipped.empty() ? "" : "; ") + other.via + ": " + it->second;
  }
  for (size_t h = 0; h < g.hooks.size(); ++h) {
    HookReportEntry e;
    e.hook = g.hooks[h];
    e.via = f ? f->via : "none";
    e.target = f ? f->targets[std::min(h, f->targets.size() - 1)] : "";
    if (f && f->via == "cgroup") e.target += " on " + probe_.Cgroup2Root();
    e.reason = reason + (skipped.empty() ? "" : " (skipped " + skipped + ")");
    reports_.push_back(e);
  }
}

bool HookPlanner::Attach(bpf_object* obj) {
  reports_.clear();
  attached_.clear();
  bool retry = false;
  for (const Group& g : groups_) {
    int c = choice_[g.name];
    if (c < 0) {
      std::string reason = "no usable flavour";
      if ((g.name == "dns" || g.name == "dns_local") && !dns_) {
        reason = "disabled (dns: false): flows carry no dest_domains and no DNS logs are made";
      } else if (g.name == "dns_local" && dnsLocal_ == DnsLocal::Off) {
        reason = "disabled (dns_local: off): lookups through nscd or systemd-resolved's varlink socket are not seen";
      } else if (g.name == "dns_local") {
        reason = "no usable flavour: lookups through nscd or systemd-resolved's varlink socket are not seen";
      } else if (g.name == "udp_peer" && !udpPeers_) {
        reason = "disabled (udpPeers: false): unconnected UDP sockets report remote 0.0.0.0:0";
      } else if (g.name == "udp_peer" && !whyNot_.count("udp_peer/tracepoint") && !whyNot_.count("udp_peer/cgroup")) {
        reason = "not needed: the send/receive hooks read peers from the kernel msghdr (or are not attached)";
      }
      Report(g, nullptr, reason);
      continue;
    }
    const Flavour& f = g.flavours[c];
    if (loadOnly_[g.name]) {
      std::string why;
      probe_.KprobesSupported(&why);
      Report(g, nullptr, "programs loaded and verified, not attached: " + why);
      continue;
    }
    std::vector<bpf_link*> mine;
    std::string failure;
    // cgroup programs attach to the cgroup v2 root as links: links always
    // coexist with other programs (the BPF_F_ALLOW_MULTI semantics) and go
    // away with their fd, on close() or when the process dies.
    int cgroupFd = -1;
    if (f.via == "cgroup") {
      cgroupFd = open(probe_.Cgroup2Root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (cgroupFd < 0) failure = "failed to open " + probe_.Cgroup2Root() + ": " + std::strerror(errno);
    }
    for (const std::string& name : f.programs) {
      if (!failure.empty()) break;
      bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
      bpf_link* link = nullptr;
      if (p) link = cgroupFd >= 0 ? bpf_program__attach_cgroup(p, cgroupFd) : bpf_program__attach(p);
      if (!link) {
        int err = errno;
        failure = "failed to attach " + name + ": " + std::strerror(err);
        break;
      }
      mine.push_back(link);
    }
    if (cgroupFd >= 0) close(cgroupFd);
    if (!failure.empty()) {
      for (bpf_link* l : mine) bpf_link__destroy(l);
      whyNot_[g.name + "/" + f.via] = failure;
      bool fallback = false;
      // Only a flavour the caller forced has no fallback.
      bool forced = mode_ != HookMode::Auto && f.via == ModeVia(mode_);
      for (size_t i = c + 1; i < g.flavours.size() && !forced; ++i) fallback = true;
      if (fallback) {
        retry = true;
      } else {
        Report(g, nullptr, failure);
      }
      continue;
    }
    links_.insert(links_.end(), mine.begin(), mine.end());
    for (const std::string& name : f.programs) attached_.insert(name);
    std::string reason;
    if (g.name == "dns_local" && f.via == "tracepoint") {
      reason = "lookups through local resolver sockets (nscd, systemd-resolved varlink) from syscall tracepoints, "
               "as dns_local: syscalls asked; note: every task's syscalls now take the slow path (tens of ns each)";
    } else if (g.name == "dns_local") {
      reason = std::string("lookups through local resolver sockets (nscd, systemd-resolved varlink) from ") +
               (f.via == "fentry" ? "BTF trampolines" : "kprobes") +
               " on unix_stream_sendmsg/recvmsg: only unix stream traffic pays, a path lookup per call";
    } else if (g.name == "dns" && f.via == "fentry") {
      reason = "DNS messages to and from the server port from BTF trampolines on the socket calls that carry "
               "them (UDP sends, receives on sockets that asked, TCP to the server port): no program runs per "
               "packet";
    } else if (f.via == "tp_btf") {
      reason = "BTF tracepoint in this kernel: typed arguments, no tracefs lookups";
    } else if (f.via == "raw_tp") {
      reason = "raw tracepoint: task pointers without BTF-typed arguments";
    } else if (f.via == "fentry") {
      reason = "BTF trampolines (fentry/fexit) on the kernel functions: return values without kretprobes";
    } else if (g.name == "dns") {
      reason = "DNS packets to and from the server port from cgroup skb programs linked to the cgroup v2 root " +
               probe_.Cgroup2Root() + ", their processes from cgroup connect/sendmsg hooks; other packets are "
               "looked at (two bounded reads) and passed";
    } else if (f.via == "cgroup") {
      reason = "peers of unconnected UDP sockets from cgroup sock_addr hooks linked to the cgroup v2 root " +
               probe_.Cgroup2Root() + " (multi-attach, other programs there keep running); they run only for "
               "UDP messages that carry an address, not for every syscall";
    } else if (g.name == "udp_peer") {
      reason = "peers of unconnected UDP sockets from the syscall's sockaddr; note: syscall tracepoints put "
               "every task on the slow syscall path (tens of ns per syscall), udpPeers: false avoids it";
    } else if (f.via == "tracepoint") {
      reason = "tracefs event present (stable tracepoint ABI)";
      if (g.name == "fork") reason += "; threads are reported as forks (no task pointers here)";
    } else {
      reason = "kprobes on the kernel functions (no BTF trampolines or 6.3 socket tracepoints here)";
    }
    if (mode_ != HookMode::Auto && f.via == ModeVia(mode_)) reason = "forced by hookMode; " + reason;
    Report(g, &f, reason);
  }
  if (retry) Detach();
  return !retry;
}

void HookPlanner::Detach() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  attached_.clear();
}
