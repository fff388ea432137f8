// The sharded engine's counters and gauges (listed in sharded_trace_engine.h).
// Each shard's worker publishes its own resolver's figures; a gauge sums
// the shards' entries when /metrics is read.
//
//   EngineMetrics metrics(registry, options, shards);
//   metrics.Publish(i, resolver, filter_bytes);   // shard i's worker only
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "pipeline/base/metrics_registry.h"
#include "pipeline/reparent/reparent_options.h"
#include "pipeline/reparent/trace_resolver.h"

namespace gateway {

// A per-shard value summed by a gauge; each shard's worker stores its own
// entry, the gauge reads them all. Shared so that the registry may outlive
// the engine.
struct ShardGauge {
  explicit ShardGauge(size_t shards) : values(shards) {}
  std::vector<std::atomic<int64_t>> values;
  int64_t Sum() const {
    int64_t sum = 0;
    for (const auto& v : values) sum += v.load(std::memory_order_relaxed);
    return sum;
  }
};

class EngineMetrics final {
 public:
  // Registers the metrics in `registry`, which must outlive this object.
  EngineMetrics(MetricsRegistry& registry, const ReparentOptions& options, size_t shards);
  EngineMetrics(const EngineMetrics&) = delete;
  EngineMetrics& operator=(const EngineMetrics&) = delete;

  // On shard `index`'s worker: adds what its resolver counted since the
  // shard's last call and stores the shard's gauges. `filter_bytes` is its
  // shared filter of moved fates (0: none), counted with the tables.
  void Publish(size_t index, const TraceResolver& resolver, int64_t filter_bytes);

  // Spans sent on unchanged by Submit after Shutdown (any thread).
  void CountReleasedAtShutdown(int64_t spans);

  size_t shards() const { return published_.size(); }

  // Spans held by all shards, as last published.
  int64_t HeldSpans() const { return held_->Sum(); }

 private:
  // A resolver statistic and the counter its increments go to.
  using Field = int64_t TraceResolverStats::*;
  std::vector<std::pair<Field, Counter*>> counters_;
  Counter* processed_ = nullptr;
  Counter* released_shutdown_ = nullptr;
  std::shared_ptr<ShardGauge> held_;
  std::shared_ptr<ShardGauge> table_bytes_;
  std::shared_ptr<ShardGauge> held_bytes_;
  // Per shard, what its last Publish saw; each entry is its worker's.
  std::vector<TraceResolverStats> published_;
};

}  // namespace gateway
