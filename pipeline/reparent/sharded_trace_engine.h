// The TraceEngine: reparenting sharded by original trace id over worker
// threads, each owning a TraceResolver and a TraceBatcher.
//
//   std::unique_ptr<TraceEngine> engine = NewShardedTraceEngine(
//       reparent_options, TraceBatcherOptions{}, exporter, &budget, registry, RealClock());
//   engine->Submit(*std::move(scanned));   // any receiver thread
//   ...
//   engine->Shutdown();                    // releases held spans, flushes, joins
//
// Metrics registered: gateway_spans_processed_total,
// gateway_spans_reparented_total, gateway_descendants_moved_total,
// gateway_fanout_spans_created_total, gateway_spans_routed_to_message_total,
// gateway_link_fate_unknown_total,
// gateway_spans_released_unchanged_total{reason="hold_window"|"memory_bound"|"shutdown"},
// gauges gateway_held_spans, gateway_reparent_table_bytes.
#pragma once

#include <memory>

#include "pipeline/base/clock.h"
#include "pipeline/export/exporter.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/reparent/fate_store_client.h"
#include "pipeline/reparent/reparent_options.h"
#include "pipeline/reparent/trace_batcher.h"
#include "pipeline/reparent/trace_engine.h"

namespace gateway {

// Starts options.shards worker threads (half the usable CPUs when 0).
// `exporter`, `budget` (may be null), `metrics` and `clock` must outlive the
// engine. Spans submitted after Shutdown go out unchanged at once, on the
// caller's thread, counted as released with reason "shutdown".
// `fate_store` (null: none) must outlive the engine; with it each shard
// worker has a FateStoreGate (fate_store_gate.h) in front of its resolver.
std::unique_ptr<TraceEngine> NewShardedTraceEngine(const ReparentOptions& options,
                                                   const TraceBatcherOptions& batcher_options, Exporter& exporter,
                                                   MemoryBudget* budget, MetricsRegistry& metrics,
                                                   const Clock& clock, FateStoreClient* fate_store = nullptr);

}  // namespace gateway
