// Captures libbpf's messages so load failures can carry the verifier's words.
#pragma once

#include <string>

class LibbpfLog {
 public:
  // Main thread: route libbpf's print callback here (idempotent).
  static void Install();
  // Main thread: start a capture window; earlier text is dropped.
  static void Begin();
  // Main thread: the text captured since Begin(), at most the last 16 KiB.
  static std::string Take();
  // Main thread: the name of the program libbpf said failed to load, or "".
  static std::string FailedProgram(const std::string& text);
  // Main thread: one line saying why `program` failed: libbpf's load error
  // plus the verifier's own last word (e.g. "invalid func unknown#181"),
  // not the noise around them.
  static std::string Reason(const std::string& text, const std::string& program);
};
