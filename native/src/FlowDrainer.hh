// Drains the double-buffered flow map (bpf/lib/maps.h): flips the programs'
// index to the idle half, waits for programs still using the other one,
// then reads and deletes every entry of that half, which nothing writes to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

class FlowDrainer {
 public:
  struct Halves {
    volatile uint32_t* index;  // pf_flow_index in the mmapped .bss: 0 = a, 1 = b
    int aFd;
    int bFd;
    int syncFd;       // pf_flow_sync: updating it waits for running programs
    int syncInnerFd;  // the value written to pf_flow_sync
  };
  FlowDrainer(const Halves& halves, size_t keySize, size_t valueSize, size_t maxEntries);

  // Main thread: swap the halves, append the retired half's key|value
  // records (each padded to 8 bytes) to `out` and return how many entries
  // were drained. Uses
  // bpf_map_lookup_and_delete_batch, falling back to per-key lookup+delete on
  // kernels without it (remembered for later calls).
  size_t Drain(std::vector<uint8_t>* out);

  // Which method the last Drain() used: "batch" or "per-key".
  const char* Method() const { return batchSupported_ ? "batch" : "per-key"; }

 private:
  size_t DrainBatch(std::vector<uint8_t>* out, bool* unsupported);
  size_t DrainPerKey(std::vector<uint8_t>* out);
  void Append(std::vector<uint8_t>* out, const uint8_t* key, const uint8_t* value);

  // Point the programs at the idle half and wait; `fd_` becomes the half to drain.
  void Swap();

  Halves halves_;
  int fd_ = -1;  // the half being drained
  size_t keySize_;
  size_t valueSize_;
  size_t chunk_;
  bool batchSupported_ = true;
  std::vector<uint8_t> keys_;
  std::vector<uint8_t> values_;
};
