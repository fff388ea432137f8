#include "pipeline/metrics/series_table.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace gateway::metrics {
namespace {

// Expired series removed from the front of a shard per call, beyond the one
// being looked up: keeps a call's cost bounded after a quiet spell while the
// table still drains at the rate it is used.
constexpr int kExpirePerCall = 16;

int64_t PerShard(int64_t total, int shards) { return std::max<int64_t>(1, (total + shards - 1) / shards); }

}  // namespace

int64_t SeriesTable::EntryBytes(const PointValue& value) {
  // The list node (two links) and the index slot (key, iterator, control
  // byte) at the index's maximum load of 7/8.
  constexpr int64_t kFixed = sizeof(Entry) + 2 * sizeof(void*) + (sizeof(SeriesKey) + sizeof(void*) + 1) * 8 / 7;
  int64_t dynamic = 0;
  if (const auto* h = std::get_if<HistogramValue>(&value)) {
    dynamic = static_cast<int64_t>(h->bucket_counts.capacity() * sizeof(uint64_t));
  } else if (const auto* e = std::get_if<ExpHistogramValue>(&value)) {
    dynamic = static_cast<int64_t>((e->positive.counts.capacity() + e->negative.counts.capacity()) * sizeof(uint64_t));
  }
  return kFixed + dynamic;
}

SeriesTable::SeriesTable(const SeriesTableOptions& options, const DeltaRules& rules, const Clock& clock,
                         MetricsRegistry& registry)
    : rules_(rules),
      clock_(clock),
      ttl_(options.ttl),
      shard_max_series_(PerShard(options.max_series, std::max(1, options.shards))),
      shard_max_bytes_(PerShard(options.max_bytes, std::max(1, options.shards))),
      shard_count_(std::max(1, options.shards)),
      shards_(new Shard[static_cast<size_t>(std::max(1, options.shards))]) {
  evicted_ttl_ = registry.GetCounter("gateway_metrics_series_evicted_total",
                                     "Series forgotten by cumulative-to-delta conversion", {{"reason", "ttl"}});
  evicted_capacity_ = registry.GetCounter("gateway_metrics_series_evicted_total",
                                          "Series forgotten by cumulative-to-delta conversion",
                                          {{"reason", "capacity"}});
  registry.AddGauge("gateway_metrics_series", "Series tracked for cumulative-to-delta conversion", {},
                    [this] { return static_cast<double>(series()); });
  registry.AddGauge("gateway_metrics_series_bytes", "Estimated bytes of the series table", {},
                    [this] { return static_cast<double>(bytes()); });
}

void SeriesTable::Erase(Shard& shard, Lru::iterator it) {
  shard.bytes -= it->bytes;
  bytes_.fetch_sub(it->bytes, std::memory_order_relaxed);
  series_.fetch_sub(1, std::memory_order_relaxed);
  shard.index.erase(it->key);
  shard.lru.erase(it);
}

void SeriesTable::ExpireSome(Shard& shard, absl::Time now) {
  for (int i = 0; i < kExpirePerCall && !shard.lru.empty(); ++i) {
    auto oldest = shard.lru.begin();
    if (now - oldest->touched <= ttl_) return;
    Erase(shard, oldest);
    evicted_ttl_->Add();
  }
}

void SeriesTable::EnforceBounds(Shard& shard) {
  // The series just updated is at the back; it goes last, and only when it
  // alone exceeds the shard's bytes.
  while (!shard.lru.empty() &&
         (static_cast<int64_t>(shard.lru.size()) > shard_max_series_ || shard.bytes > shard_max_bytes_)) {
    Erase(shard, shard.lru.begin());
    evicted_capacity_->Add();
  }
}

DeltaOutcome SeriesTable::Convert(const SeriesKey& key, CumulativePoint& point, DeltaPoint* out) {
  Shard& shard = shards_[key.lo % static_cast<uint64_t>(shard_count_)];
  const absl::Time now = clock_.Now();
  MutexLock lock(&shard.mu);
  ExpireSome(shard, now);
  auto found = shard.index.find(key);
  if (found != shard.index.end() && now - found->second->touched > ttl_) {
    Erase(shard, found->second);
    evicted_ttl_->Add();
    found = shard.index.end();
  }
  const bool known = found != shard.index.end();
  const DeltaOutcome outcome = ToDelta(known ? &found->second->state : nullptr, point, rules_, out);
  if (!UpdatesState(outcome)) return outcome;

  Lru::iterator entry;
  if (known) {
    entry = found->second;
    shard.lru.splice(shard.lru.end(), shard.lru, entry);
  } else {
    shard.lru.push_back(Entry{key, now, 0, {}});
    entry = std::prev(shard.lru.end());
    shard.index.emplace(key, entry);
    series_.fetch_add(1, std::memory_order_relaxed);
  }
  entry->touched = now;
  entry->state.time_unix_nano = point.time_unix_nano;
  entry->state.value = std::move(point.value);
  const int64_t bytes = EntryBytes(entry->state.value);
  shard.bytes += bytes - entry->bytes;
  bytes_.fetch_add(bytes - entry->bytes, std::memory_order_relaxed);
  entry->bytes = bytes;
  EnforceBounds(shard);
  return outcome;
}

}  // namespace gateway::metrics
