#include "pipeline/reparent/engine_metrics.h"

#include <string>

namespace gateway {

EngineMetrics::EngineMetrics(MetricsRegistry& registry, const ReparentOptions& options, size_t shards)
    : published_(shards) {
  auto add = [&](Field field, Counter* counter) {
    counters_.emplace_back(field, counter);
    return counter;
  };
  processed_ = add(&TraceResolverStats::processed,
                   registry.GetCounter("gateway_spans_processed_total", "Spans the reparenting engine took in"));
  add(&TraceResolverStats::reparented,
      registry.GetCounter("gateway_spans_reparented_total", "Spans given their linked producer span as parent"));
  add(&TraceResolverStats::descendants_moved,
      registry.GetCounter("gateway_descendants_moved_total", "Spans moved to the new trace of a reparented ancestor"));
  add(&TraceResolverStats::fanout_created,
      registry.GetCounter("gateway_fanout_spans_created_total",
                          "Per-message consumer spans created for the links of batch spans"));
  add(&TraceResolverStats::routed,
      registry.GetCounter("gateway_spans_routed_to_message_total",
                          "Children of batch spans moved under their message's per-message span"));
  add(&TraceResolverStats::link_fate_unknown,
      registry.GetCounter("gateway_link_fate_unknown_total",
                          "Targets and per-message spans placed without their link target's fate after waiting for it"));
  const std::string released = "gateway_spans_released_unchanged_total";
  const std::string released_help = "Spans sent on unchanged before their parent's fate was known";
  add(&TraceResolverStats::released_hold_window,
      registry.GetCounter(released, released_help, {{"reason", "hold_window"}}));
  add(&TraceResolverStats::released_memory_bound,
      registry.GetCounter(released, released_help, {{"reason", "memory_bound"}}));
  released_shutdown_ = add(&TraceResolverStats::released_shutdown,
                           registry.GetCounter(released, released_help, {{"reason", "shutdown"}}));
  add(&TraceResolverStats::released_flush, registry.GetCounter(released, released_help, {{"reason", "flush"}}));
  const std::string lookups = "gateway_link_fate_lookups_total";
  const std::string lookups_help =
      "Link targets of other shards' traces looked up: asked of the owning shard, or answered from its shared filter "
      "of moved fates";
  add(&TraceResolverStats::fate_queries, registry.GetCounter(lookups, lookups_help, {{"answered_by", "owner_shard"}}));
  add(&TraceResolverStats::peer_answers,
      registry.GetCounter(lookups, lookups_help, {{"answered_by", "shared_filter"}}));

  held_ = std::make_shared<ShardGauge>(shards);
  registry.AddGauge("gateway_held_spans", "Spans waiting for their parent's fate", {},
                    [gauge = held_] { return static_cast<double>(gauge->Sum()); });
  table_bytes_ = std::make_shared<ShardGauge>(shards);
  registry.AddGauge("gateway_reparent_table_bytes",
                    "Bytes the tables of remembered fates have allocated (reparent.max_table_bytes bounds them)", {},
                    [gauge = table_bytes_] { return static_cast<double>(gauge->Sum()); });
  registry.AddGauge("gateway_reparent_table_bytes_limit",
                    "Bound on gateway_reparent_table_bytes (0: none; a quarter of the process memory bound)", {},
                    [limit = options.max_table_bytes] { return static_cast<double>(limit); });
  held_bytes_ = std::make_shared<ShardGauge>(shards);
  registry.AddGauge("gateway_held_span_bytes",
                    "Bytes the held spans' bookkeeping has allocated (their requests: gateway_memory_in_flight_bytes)",
                    {}, [gauge = held_bytes_] { return static_cast<double>(gauge->Sum()); });
  registry.AddGauge("gateway_held_spans_limit", "Bound on gateway_held_spans (reparent.max_held_spans, as fitted)", {},
                    [limit = options.max_held_spans] { return static_cast<double>(limit); });
}

void EngineMetrics::Publish(size_t index, const TraceResolver& resolver, int64_t filter_bytes) {
  const TraceResolverStats& now = resolver.stats();
  TraceResolverStats& before = published_[index];
  for (const auto& [field, counter] : counters_) {
    if (const int64_t delta = now.*field - before.*field; delta != 0) counter->Add(delta);
  }
  before = now;
  held_->values[index].store(resolver.HeldSpans(), std::memory_order_relaxed);
  table_bytes_->values[index].store(resolver.TableBytes() + filter_bytes, std::memory_order_relaxed);
  held_bytes_->values[index].store(resolver.HeldBytes(), std::memory_order_relaxed);
}

void EngineMetrics::CountReleasedAtShutdown(int64_t spans) {
  processed_->Add(spans);
  released_shutdown_->Add(spans);
}

}  // namespace gateway
