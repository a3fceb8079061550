#include "LibbpfLog.hh"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {

std::mutex logMutex;
std::string captured;
constexpr size_t kMaxLog = 16 * 1024;

// Any thread libbpf runs on: append the message, keep the tail.
int Print(enum libbpf_print_level level, const char* fmt, va_list args) {
  bool debug = std::getenv("PROCFLOW_LIBBPF_DEBUG") != nullptr;
  if (level == LIBBPF_DEBUG && !debug) return 0;
  if (debug) {
    // PROCFLOW_LIBBPF_DEBUG also shows the whole log (verifier logs included) on stderr.
    va_list copy;
    va_copy(copy, args);
    vfprintf(stderr, fmt, copy);
    va_end(copy);
  }
  char buf[2048];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n <= 0) return 0;
  std::lock_guard<std::mutex> lock(logMutex);
  captured.append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
  if (captured.size() > kMaxLog) captured.erase(0, captured.size() - kMaxLog);
  return 0;
}

}  // namespace

void LibbpfLog::Install() { libbpf_set_print(Print); }

void LibbpfLog::Begin() {
  std::lock_guard<std::mutex> lock(logMutex);
  captured.clear();
}

std::string LibbpfLog::Take() {
  std::lock_guard<std::mutex> lock(logMutex);
  std::string out;
  out.swap(captured);
  return out;
}

std::string LibbpfLog::FailedProgram(const std::string& text) {
  // libbpf writes: "libbpf: prog 'NAME': failed to load: -13"
  const std::string marker = "prog '";
  size_t at = text.rfind("failed to load");
  if (at == std::string::npos) return "";
  size_t start = text.rfind(marker, at);
  if (start == std::string::npos) return "";
  start += marker.size();
  size_t end = text.find('\'', start);
  if (end == std::string::npos || end > at) return "";
  return text.substr(start, end - start);
}

namespace {

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Verifier statistics printed after the verdict: not the reason.
bool IsStatistics(const std::string& line) {
  return line.rfind("processed ", 0) == 0 || line.rfind("verification time", 0) == 0 ||
         line.rfind("stack depth", 0) == 0 || line.rfind("max_states_per_insn", 0) == 0 ||
         line.rfind("-- END PROG LOAD LOG", 0) == 0;
}

}  // namespace

std::string LibbpfLog::Reason(const std::string& text, const std::string& program) {
  const std::string prefix = "libbpf: prog '" + program + "': ";
  std::string loadError, verdict;
  // The verifier's log sits between BEGIN and END markers; its verdict is the last line
  // before the statistics.
  size_t begin = text.rfind(prefix + "-- BEGIN PROG LOAD LOG --");
  if (begin != std::string::npos) {
    size_t end = text.find("-- END PROG LOAD LOG --", begin);
    std::string body = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    size_t at = body.find('\n');
    while (at != std::string::npos) {
      size_t next = body.find('\n', at + 1);
      std::string line = Trim(body.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1));
      if (!line.empty() && !IsStatistics(line)) verdict = line;
      at = next;
    }
  }
  size_t failed = text.rfind(prefix + "BPF program load failed: ");
  if (failed != std::string::npos) {
    size_t start = failed + prefix.size();
    loadError = Trim(text.substr(start, text.find('\n', start) - start));
  }
  if (loadError.empty()) {
    size_t f = text.rfind(prefix);
    if (f != std::string::npos) loadError = Trim(text.substr(f + prefix.size(), text.find('\n', f) - f - prefix.size()));
  }
  if (loadError.empty()) loadError = "failed to load";
  return verdict.empty() ? loadError : loadError + "; verifier: " + verdict;
}
