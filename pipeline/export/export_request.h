// One OTLP/HTTP request body on its way out, and what to do when it is done.
//
//   ExportRequest r;
//   r.signal = Signal::kTraces;
//   r.body = EncodeTraceRequest(spans);     // ExportTraceServiceRequest bytes
//   r.items = spans.size();
//   r.on_done = [&budget, n](ExportResult res) { budget.Release(n); };
//   exporter.Export(std::move(r));
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "pipeline/base/signal.h"

namespace gateway {

enum class ExportOutcome : uint8_t {
  // The target accepted it (2xx), possibly with a partial_success.
  kDelivered = 0,
  // Permanently refused (4xx other than 408/429, after 413 splitting).
  kRejected = 1,
  // Retries stopped (too old for the target, or shutdown deadline passed).
  kGivenUp = 2,
};

struct ExportResult {
  ExportOutcome outcome = ExportOutcome::kDelivered;
  // Items the target reported as rejected in partial_success.
  int64_t rejected_items = 0;
};

struct ExportRequest {
  Signal signal = Signal::kTraces;
  // A serialized Export{Traces,Metrics,Logs}ServiceRequest, uncompressed.
  std::string body;
  // Spans, data points or log records in body.
  int64_t items = 0;
  // The end time of the oldest span (or the oldest timestamp) in body;
  // retries stop before the target would discard it. InfinitePast if unknown.
  absl::Time oldest_item_time = absl::InfinitePast();
  // Called exactly once, from an exporter thread, when the request is
  // delivered, rejected or given up. Releases budgets and acknowledges the
  // persistent queue. May be empty.
  absl::AnyInvocable<void(ExportResult)> on_done;
};

}  // namespace gateway
