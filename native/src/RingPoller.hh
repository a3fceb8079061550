// A background thread that polls the BPF ring buffer and hands batches of raw
// records to JavaScript through a ThreadSafeFunction: one call per batch, a
// bounded number of batches in flight, overflow dropped and counted.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct ring_buffer;

class RingPoller {
 public:
  struct Options {
    size_t maxBatchBytes = 1 << 20;     // hand a batch over at this size
    size_t maxInFlight = 4;             // batches queued to JS; beyond, keep accumulating
    size_t maxPendingBytes = 64 << 20;  // accumulated while JS lags; beyond, drop and count
    int pollTimeoutMs = 20;  // upper bound on event latency
  };

  RingPoller(int ringFd, Options opts);
  ~RingPoller();
  RingPoller(const RingPoller&) = delete;
  RingPoller& operator=(const RingPoller&) = delete;

  // Main thread: start the thread; returns once it is polling, throws with the
  // thread's own error when it could not start.
  void Start(Napi::Env env, Napi::Function onBatch);
  // Main thread: stop, join, and release the ThreadSafeFunction. Idempotent.
  void Stop();

  uint64_t Delivered() const { return stats_->delivered.load(); }
  uint64_t Dropped() const { return stats_->dropped.load(); }

 private:
  // Shared with batches still queued to JS, which may outlive the poller.
  struct Stats {
    std::atomic<size_t> inFlight{0};
    std::atomic<uint64_t> delivered{0};
    std::atomic<uint64_t> dropped{0};
  };
  struct Batch {
    std::vector<uint8_t> bytes;
    uint32_t count = 0;
    std::shared_ptr<Stats> stats;
  };

  // Poller thread: the loop.
  void Run();
  // Poller thread: libbpf calls it per record during ring_buffer__poll.
  static int OnRecord(void* ctx, void* data, size_t size);
  // Poller thread: hand the current batch to JS when it has room; while JS
  // lags keep accumulating, and drop (counted) only past maxPendingBytes.
  void Flush();
  // JS thread: deliver one batch to the callback.
  static void CallJs(Napi::Env env, Napi::Function fn, Batch* batch);

  int ringFd_;
  Options opts_;
  ring_buffer* rb_ = nullptr;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::shared_ptr<Stats> stats_ = std::make_shared<Stats>();
  Batch* current_ = nullptr;

  std::mutex startMutex_;
  std::condition_variable startCv_;
  bool started_ = false;
  std::string startError_;
};
