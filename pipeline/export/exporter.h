// The seam between the pipeline and the outside world: something that delivers
// serialized OTLP requests (Dynatrace's OTLP/HTTP endpoint, a generic OTLP/HTTP
// target, or the debug printer).
//
//   std::unique_ptr<Exporter> exporter = ...;  // from a factory
//   exporter->Export(std::move(request));
//   ...
//   exporter->Shutdown(absl::Now() + absl::Seconds(25));
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pipeline/export/export_request.h"

namespace gateway {

class Exporter {
 public:
  virtual ~Exporter() = default;

  // Takes ownership and delivers asynchronously: batches, splits, compresses,
  // retries; calls request.on_done exactly once. Thread-safe, never blocks.
  // Admission control happens before (MemoryBudget), so Export accepts
  // everything it is given.
  virtual void Export(ExportRequest request) = 0;

  // Bytes accepted and not yet done; for metrics and readiness.
  virtual int64_t QueuedBytes() const = 0;

  // False when the exporter has failed to deliver for long enough that the
  // gateway should report not ready.
  virtual bool Healthy() const = 0;

  // Why Healthy() is false, for /readyz and the status page ("" when it is
  // true or the exporter has nothing to say). Thread-safe.
  virtual std::string HealthDetail() const { return {}; }

  // Sends what it holds now, retries included (their backoff is cut short),
  // and waits until nothing is queued or `deadline` (wall clock) passes.
  // Returns the bytes still queued, which stay queued (bounded by admission)
  // and go out later or at the next Flush. Thread-safe. For the Lambda
  // extension: the end of an invoke. The default waits for QueuedBytes() to
  // reach 0, looking every millisecond.
  virtual int64_t Flush(absl::Time deadline) {
    int64_t queued = QueuedBytes();
    while (queued > 0 && absl::Now() < deadline) {
      absl::SleepFor(std::min(absl::Milliseconds(1), deadline - absl::Now()));
      queued = QueuedBytes();
    }
    return queued;
  }

  // Stops taking new requests, tries to deliver what it holds until
  // `deadline`, gives up the rest (calling on_done with kGivenUp). Idempotent.
  virtual absl::Status Shutdown(absl::Time deadline) = 0;
};

}  // namespace gateway
