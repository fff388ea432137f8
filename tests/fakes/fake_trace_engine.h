// A TraceEngine that keeps every submitted request until the test lets it
// go, for tests of what sits in front of the engine (GatewayPipeline).
//
//   FakeTraceEngine engine;
//   GatewayPipeline pipeline(engine, exporter, budget, registry, queue.get());
//   pipeline.Accept(Signal::kTraces, body);
//   EXPECT_EQ(engine.Requests(), 1);
//   engine.ReleaseAll();  // as if every span were exported: buffers die
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "pipeline/base/sync.h"
#include "pipeline/reparent/trace_engine.h"

namespace gateway::testing {

class FakeTraceEngine final : public TraceEngine {
 public:
  void Submit(ScannedTraceRequest request) override {
    MutexLock lock(&mu_);
    spans_ += static_cast<int64_t>(request.spans.size());
    held_.push_back(std::move(request));
  }

  int64_t HeldSpans() const override {
    MutexLock lock(&mu_);
    return spans_;
  }

  // Hands nothing on (the fake holds until ReleaseAll); counts the calls.
  bool Flush(absl::Time deadline) override {
    MutexLock lock(&mu_);
    ++flushes_;
    return true;
  }

  void Shutdown() override { ReleaseAll(); }

  // Requests submitted and not released.
  int64_t Requests() const {
    MutexLock lock(&mu_);
    return static_cast<int64_t>(held_.size());
  }

  // Drops every held request (and so the last reference to its buffer).
  void ReleaseAll() {
    std::vector<ScannedTraceRequest> released;
    {
      MutexLock lock(&mu_);
      released.swap(held_);
      spans_ = 0;
    }
  }

 private:
  mutable Mutex mu_;
  std::vector<ScannedTraceRequest> held_ ABSL_GUARDED_BY(mu_);
  int64_t spans_ ABSL_GUARDED_BY(mu_) = 0;
  int flushes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gateway::testing
