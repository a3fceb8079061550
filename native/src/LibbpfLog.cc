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
  if (level == LIBBPF_DEBUG && !std::getenv("PROCFLOW_LIBBPF_DEBUG")) return 0;
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
