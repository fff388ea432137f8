// The reparenting engine's seam: receivers' scanned trace requests go in,
// rewritten spans come out to the exporter in batched requests.
//
//   std::unique_ptr<TraceEngine> engine = NewShardedTraceEngine(options, ...);
//   engine->Submit(*std::move(scanned));   // from any receiver thread
//   ...
//   engine->Shutdown();                    // releases everything held, flushes
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/span_ref.h"

namespace gateway {

// One span the engine reparented, for the status page.
struct ReparentDecision {
  absl::Time time;
  TraceId original_trace;
  TraceId new_trace;
  SpanId span;
  // Span name as the application sent it (untrusted text).
  std::string name;
};

class TraceEngine {
 public:
  virtual ~TraceEngine() = default;

  // Takes the spans of one accepted request. Thread-safe; never blocks for
  // long (hand-off to the owning shards' queues).
  virtual void Submit(ScannedTraceRequest request) = 0;

  // Spans waiting for their parent's fate, across all shards.
  virtual int64_t HeldSpans() const = 0;

  // The most recent reparent decisions (about the last 50, oldest first).
  // Thread-safe; for the status page.
  virtual std::vector<ReparentDecision> RecentDecisions() const { return {}; }

  // Hands every span submitted before the call to the exporter: spans still
  // waiting for their parent are released unchanged (counted with reason
  // "flush"), partly filled batches are exported; remembered fates stay, so
  // a late child still follows its parent. Blocks until every shard has done
  // so or `deadline` (wall clock) passes; true if all did. Submits may go on
  // meanwhile. Thread-safe. For the Lambda extension: the end of an invoke.
  virtual bool Flush(absl::Time deadline) = 0;

  // Stops taking spans, releases everything held (unchanged where the fate
  // is unknown), hands the last batches to the exporter and joins the
  // workers. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace gateway
