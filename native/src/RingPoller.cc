#include "RingPoller.hh"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include <pthread.h>

#include "procflow.h"

RingPoller::RingPoller(int ringFd, Options opts) : ringFd_(ringFd), opts_(opts) {}

RingPoller::~RingPoller() { Stop(); }

void RingPoller::Start(Napi::Env env, Napi::Function onBatch) {
  if (running_) throw Napi::Error::New(env, "kernel collector: already started");
  tsfn_ = Napi::ThreadSafeFunction::New(env, onBatch, "procflow-ring", 0, 1);
  // The agent keeps itself alive; a collector alone must not hold the loop open.
  tsfn_.Unref(env);
  stop_ = false;
  started_ = false;
  startError_.clear();
  thread_ = std::thread([this] { Run(); });
  std::unique_lock<std::mutex> lock(startMutex_);
  startCv_.wait(lock, [this] { return started_; });
  if (!startError_.empty()) {
    lock.unlock();
    thread_.join();
    tsfn_.Release();
    throw Napi::Error::New(env, startError_);
  }
  running_ = true;
}

void RingPoller::Run() {
  // Named, so the agent's CPU can be told apart by thread (/proc/PID/task/*/comm; bench:agent).
  pthread_setname_np(pthread_self(), "procflow-ring");
  rb_ = ring_buffer__new(ringFd_, &RingPoller::OnRecord, this, nullptr);
  {
    // Signal the start either way, so Start() never hangs.
    std::lock_guard<std::mutex> lock(startMutex_);
    if (!rb_) startError_ = std::string("kernel collector: ring buffer setup failed: ") + std::strerror(errno);
    started_ = true;
  }
  startCv_.notify_all();
  if (!rb_) return;
  current_ = new Batch();
  current_->stats = stats_;
  while (!stop_) {
    // The programs wake us only on a backlog; the timeout bounds the latency.
    int n = ring_buffer__poll(rb_, opts_.pollTimeoutMs);
    if (n < 0 && n != -EINTR) break;
    n = ring_buffer__consume(rb_);
    if (n < 0 && n != -EINTR) break;
    if (current_->count > 0) Flush();
  }
  // Whatever is left in the kernel buffer after stop is drained once more.
  ring_buffer__consume(rb_);
  if (current_->count > 0) {
    size_t saved = opts_.maxInFlight;
    opts_.maxInFlight = SIZE_MAX;  // last batch: hand it over regardless
    Flush();
    opts_.maxInFlight = saved;
  }
  delete current_;
  current_ = nullptr;
  ring_buffer__free(rb_);
  rb_ = nullptr;
}

int RingPoller::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingPoller*>(ctx);
  Batch* b = self->current_;
  const auto* p = static_cast<const uint8_t*>(data);
  size_t at = b->bytes.size();
  // Exec and DNS records are fixed-size in the kernel; only the used part of their last field travels on.
  uint32_t kind = size >= sizeof(pf_event_header) ? reinterpret_cast<const pf_event_header*>(p)->kind : 0;
  size_t used = 0;
  if (size >= sizeof(pf_exec_event) && kind == PF_EVENT_EXEC) {
    uint32_t argsLen = reinterpret_cast<const pf_exec_event*>(p)->args_len;
    used = offsetof(pf_exec_event, args) + std::min<size_t>(argsLen, PF_ARGS_MAX);
  } else if (size >= sizeof(pf_dns_event) && kind == PF_EVENT_DNS) {
    uint32_t captured = reinterpret_cast<const pf_dns_event*>(p)->captured_len;
    used = offsetof(pf_dns_event, payload) + std::min<size_t>(captured, PF_DNS_MAX);
  }
  if (used) {
    b->bytes.insert(b->bytes.end(), p, p + used);
    uint32_t trimmed = static_cast<uint32_t>(used);
    std::memcpy(b->bytes.data() + at + offsetof(pf_event_header, size), &trimmed, sizeof(trimmed));
  } else {
    b->bytes.insert(b->bytes.end(), p, p + size);
  }
  // Keep records 8-byte aligned for the decoder.
  while (b->bytes.size() % 8) b->bytes.push_back(0);
  b->count++;
  if (b->bytes.size() >= self->opts_.maxBatchBytes) self->Flush();
  return 0;
}

void RingPoller::Flush() {
  if (stats_->inFlight.load() >= opts_.maxInFlight) {
    if (current_->bytes.size() < opts_.maxPendingBytes) return;  // JS lags: keep accumulating
    stats_->dropped += current_->count;
    current_->bytes.clear();
    current_->count = 0;
    return;
  }
  Batch* b = current_;
  current_ = new Batch();
  current_->stats = stats_;
  stats_->inFlight++;
  napi_status st = tsfn_.NonBlockingCall(b, &RingPoller::CallJs);
  if (st != napi_ok) {
    stats_->inFlight--;
    stats_->dropped += b->count;
    delete b;
  }
}

void RingPoller::CallJs(Napi::Env env, Napi::Function fn, Batch* batch) {
  std::shared_ptr<Stats> stats = batch->stats;
  stats->inFlight--;
  if (env == nullptr || fn.IsEmpty()) {
    // Shutting down: the batch cannot be delivered.
    stats->dropped += batch->count;
    delete batch;
    return;
  }
  uint32_t count = batch->count;
  auto* holder = new std::vector<uint8_t>(std::move(batch->bytes));
  delete batch;
  try {
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(
        env, holder->data(), holder->size(),
        [](Napi::Env, uint8_t*, std::vector<uint8_t>* h) { delete h; }, holder);
    holder = nullptr;
    stats->delivered += count;
    fn.Call({buf, Napi::Number::New(env, count)});
  } catch (const Napi::Error& e) {
    // The callback threw: surface it as an uncaught exception, as a plain
    // JS callback would. During teardown JS cannot run: nothing to do.
    if (holder) {
      delete holder;
      stats->dropped += count;
    }
    if (!env.IsExceptionPending()) {
      napi_value err = e.Value();
      if (err != nullptr) napi_fatal_exception(env, err);
    }
  } catch (...) {
    if (holder) {
      delete holder;
      stats->dropped += count;
    }
  }
}

void RingPoller::Stop() {
  if (!running_) return;
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  tsfn_.Release();
  running_ = false;
}
