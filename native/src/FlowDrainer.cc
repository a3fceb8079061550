#include "FlowDrainer.hh"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace {
size_t Pad8(size_t n) { return (n + 7) & ~size_t(7); }
}  // namespace

FlowDrainer::FlowDrainer(const Halves& halves, size_t keySize, size_t valueSize, size_t maxEntries)
    : halves_(halves), keySize_(keySize), valueSize_(valueSize) {
  chunk_ = maxEntries < 4096 ? (maxEntries < 256 ? 256 : maxEntries) : 4096;
  keys_.resize(chunk_ * keySize_);
  values_.resize(chunk_ * valueSize_);
}

void FlowDrainer::Append(std::vector<uint8_t>* out, const uint8_t* key, const uint8_t* value) {
  size_t at = out->size();
  out->resize(at + Pad8(keySize_) + Pad8(valueSize_), 0);
  std::memcpy(out->data() + at, key, keySize_);
  std::memcpy(out->data() + at + Pad8(keySize_), value, valueSize_);
}

void FlowDrainer::Swap() {
  uint32_t was = *halves_.index;
  *halves_.index = was ? 0 : 1;
  // Updating a map-in-map returns only after every BPF program running now
  // has finished (synchronize_rcu in the kernel): none still uses the old half.
  uint32_t zero = 0;
  if (bpf_map_update_elem(halves_.syncFd, &zero, &halves_.syncInnerFd, BPF_ANY) != 0) {
    throw std::runtime_error(std::string("flow drain: waiting for running programs: ") + std::strerror(errno));
  }
  fd_ = was ? halves_.bFd : halves_.aFd;
}

size_t FlowDrainer::Drain(std::vector<uint8_t>* out) {
  Swap();
  if (batchSupported_) {
    bool unsupported = false;
    size_t n = DrainBatch(out, &unsupported);
    if (!unsupported) return n;
    batchSupported_ = false;
    return n + DrainPerKey(out);
  }
  return DrainPerKey(out);
}

size_t FlowDrainer::DrainBatch(std::vector<uint8_t>* out, bool* unsupported) {
  size_t total = 0;
  uint32_t inBatch = 0, outBatch = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t count = static_cast<uint32_t>(chunk_);
    int err = bpf_map_lookup_and_delete_batch(fd_, first ? nullptr : &inBatch, &outBatch, keys_.data(),
                                              values_.data(), &count, &opts);
    int e = err ? errno : 0;
    for (uint32_t i = 0; i < count; ++i) {
      Append(out, keys_.data() + i * keySize_, values_.data() + i * valueSize_);
    }
    total += count;
    if (err) {
      if (e == ENOENT) break;  // walked the whole map
      if (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP) {
        *unsupported = true;
        break;
      }
      if (e == ENOSPC) {
        // A hash bucket holds more entries than one chunk: grow and go on.
        chunk_ *= 2;
        keys_.resize(chunk_ * keySize_);
        values_.resize(chunk_ * valueSize_);
        continue;
      }
      throw std::runtime_error(std::string("flow drain: bpf_map_lookup_and_delete_batch: ") + std::strerror(e));
    }
    inBatch = outBatch;
    first = false;
  }
  return total;
}

size_t FlowDrainer::DrainPerKey(std::vector<uint8_t>* out) {
  // Collect keys first: deleting while iterating restarts get_next_key.
  std::vector<uint8_t> keys;
  std::vector<uint8_t> key(keySize_), next(keySize_);
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
    keys.insert(keys.end(), next.begin(), next.end());
    key = next;
    prev = key.data();
  }
  size_t total = 0;
  std::vector<uint8_t> value(valueSize_);
  for (size_t at = 0; at < keys.size(); at += keySize_) {
    const uint8_t* k = keys.data() + at;
    if (bpf_map_lookup_elem(fd_, k, value.data()) != 0) continue;
    bpf_map_delete_elem(fd_, k);
    Append(out, k, value.data());
    total++;
  }
  return total;
}
