// The seam between the pipeline and the outside world: something that delivers
// serialized OTLP requests (Dynatrace's OTLP/HTTP endpoint, a generic OTLP/HTTP
// target, or the debug printer).
//
//   std::unique_ptr<Exporter> exporter = ...;  // from a factory
//   exporter->Export(std::move(request));
//   ...
//   exporter->Shutdown(absl::Now() + absl::Seconds(25));
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
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

  // Stops taking new requests, tries to deliver what it holds until
  // `deadline`, gives up the rest (calling on_done with kGivenUp). Idempotent.
  virtual absl::Status Shutdown(absl::Time deadline) = 0;
};

}  // namespace gateway
