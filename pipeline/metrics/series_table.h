// The bounded table of series states behind cumulative -> delta conversion.
//
// Each series (a SeriesKey) remembers its last point. The table is bounded
// three ways: a series not updated for `ttl` is forgotten (checked when it
// is next looked up, and a few at a time on every call), and past
// `max_series` series or `max_bytes` of state the least recently updated
// series are evicted. Either way the series' next point is a first point
// again (InitialValue rules). Evictions are counted in
// gateway_metrics_series_evicted_total{reason="ttl"|"capacity"}; the table's
// size is exported as gateway_metrics_series and gateway_metrics_series_bytes.
//
//   SeriesTable table(options, rules, clock, registry);
//   DeltaPoint out;
//   if (table.Convert(key, point, &out) == DeltaOutcome::kEmitted) ...
//
// Thread-safe: the series are split over `shards` shards, each under its own
// mutex; the bounds apply to each shard as its share of the totals.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "pipeline/base/clock.h"
#include "pipeline/metrics/delta_point.h"
#include "pipeline/metrics/series_key.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"

namespace gateway::metrics {

struct SeriesTableOptions {
  int64_t max_series = 250'000;
  int64_t max_bytes = int64_t{64} << 20;
  absl::Duration ttl = absl::Hours(1);
  int shards = 8;
};

class SeriesTable final {
 public:
  // `clock` and `registry` must outlive the table; the registry's gauges read
  // the table, so it must not be rendered after the table is gone.
  SeriesTable(const SeriesTableOptions& options, const DeltaRules& rules, const Clock& clock,
              MetricsRegistry& registry);
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  // Converts `point` of series `key` (ToDelta against its state, which is
  // then updated). Thread-safe; points of one series are converted one at a
  // time, in the order their calls take the shard's lock.
  DeltaOutcome Convert(const SeriesKey& key, CumulativePoint& point, DeltaPoint* out);

  int64_t series() const { return series_.load(std::memory_order_relaxed); }
  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  int64_t evicted_ttl() const { return evicted_ttl_->Value(); }
  int64_t evicted_capacity() const { return evicted_capacity_->Value(); }

  // What one series with `value` as its state counts against max_bytes.
  static int64_t EntryBytes(const PointValue& value);

 private:
  struct Entry {
    SeriesKey key;
    absl::Time touched;
    int64_t bytes = 0;
    SeriesState state;
  };
  using Lru = std::list<Entry>;
  struct Shard {
    Mutex mu;
    // Least recently updated first.
    Lru lru ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<SeriesKey, Lru::iterator, absl::Hash<SeriesKey>> index ABSL_GUARDED_BY(mu);
    int64_t bytes ABSL_GUARDED_BY(mu) = 0;
  };

  void Erase(Shard& shard, Lru::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void ExpireSome(Shard& shard, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void EnforceBounds(Shard& shard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const DeltaRules rules_;
  const Clock& clock_;
  const absl::Duration ttl_;
  const int64_t shard_max_series_;
  const int64_t shard_max_bytes_;
  const int shard_count_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<int64_t> series_{0};
  std::atomic<int64_t> bytes_{0};
  Counter* evicted_ttl_;
  Counter* evicted_capacity_;
};

}  // namespace gateway::metrics
