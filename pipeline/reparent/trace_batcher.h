// Collects a worker's output spans into export requests.
//
// A batch goes to the exporter when it reaches max_spans or max_bytes, or
// when its oldest span has waited max_delay. The request's on_done releases
// the spans' admission budget.
//
//   TraceBatcher batcher(TraceBatcherOptions{}, exporter, &budget);
//   batcher.Add(std::move(span), clock.Now());   // may export a full batch
//   batcher.FlushIfDue(clock.Now());              // from the worker's tick
//   batcher.Flush();                              // at shutdown
//
// Not thread-safe: each worker owns one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "pipeline/export/exporter.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"

namespace gateway {

struct TraceBatcherOptions {
  int64_t max_spans = 2000;
  // Encoded request size; well under Dynatrace's 8 MB limit.
  size_t max_bytes = 4 << 20;
  absl::Duration max_delay = absl::Milliseconds(200);
};

class TraceBatcher final {
 public:
  // `exporter` and `budget` (may be null) must outlive the batcher and every
  // request it hands over.
  TraceBatcher(const TraceBatcherOptions& options, Exporter& exporter, MemoryBudget* budget);

  TraceBatcher(const TraceBatcher&) = delete;
  TraceBatcher& operator=(const TraceBatcher&) = delete;

  // Adds a span; exports the batch first if the span would not fit, and after
  // if it is full. A run of spans that does not fit whole is split: what
  // fits completes the batch, the rest starts the next.
  void Add(OutputSpan span, absl::Time now);

  // Exports the batch if its first span has waited max_delay.
  void FlushIfDue(absl::Time now);

  // Exports whatever is pending.
  void Flush();

  // When FlushIfDue would export; InfiniteFuture when empty.
  absl::Time Deadline() const;

  size_t PendingSpans() const { return static_cast<size_t>(span_count_); }
  int64_t RequestsExported() const { return requests_exported_; }

 private:
  const TraceBatcherOptions options_;
  Exporter& exporter_;
  MemoryBudget* const budget_;

  // Adds `span` whole (a run may then exceed max_spans or max_bytes only
  // when it is alone in its batch).
  void AddWhole(OutputSpan span, absl::Time now);
  // What `span` adds to the batch: its fields plus its frames if new.
  size_t AddedBytes(const OutputSpan& span) const;

  std::vector<OutputSpan> spans_;
  // Spans in spans_ (a run counts all of its spans).
  int64_t span_count_ = 0;
  size_t bytes_ = 0;
  absl::Time first_added_ = absl::InfiniteFuture();
  // Frames already counted in bytes_.
  absl::flat_hash_set<std::pair<const RequestBuffer*, uint32_t>> frames_;
  int64_t requests_exported_ = 0;
};

}  // namespace gateway
