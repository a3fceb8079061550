// Reads and deletes every entry of the flow hash map in batches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

class FlowDrainer {
 public:
  FlowDrainer(int mapFd, size_t keySize, size_t valueSize, size_t maxEntries);

  // Main thread: append key|value records (each padded to 8 bytes) to `out`
  // and return how many entries were drained. Uses
  // bpf_map_lookup_and_delete_batch, falling back to per-key lookup+delete on
  // kernels without it (remembered for later calls).
  size_t Drain(std::vector<uint8_t>* out);

  // Which method the last Drain() used: "batch" or "per-key".
  const char* Method() const { return batchSupported_ ? "batch" : "per-key"; }

 private:
  size_t DrainBatch(std::vector<uint8_t>* out, bool* unsupported);
  size_t DrainPerKey(std::vector<uint8_t>* out);
  void Append(std::vector<uint8_t>* out, const uint8_t* key, const uint8_t* value);

  int fd_;
  size_t keySize_;
  size_t valueSize_;
  size_t chunk_;
  bool batchSupported_ = true;
  std::vector<uint8_t> keys_;
  std::vector<uint8_t> values_;
};
