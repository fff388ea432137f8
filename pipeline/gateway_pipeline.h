// The Ingest implementation that wires receivers to the engine and exporter.
//
// Traces are admitted against the memory budget, scanned on the receiver's
// thread (a malformed request is refused before anything is accepted) and
// handed to the reparenting engine; metrics and logs are admitted, validated
// and handed to the exporter as they came.
//
//   GatewayPipeline pipeline(options, engine, exporter, budget, registry);
//   StartGrpcReceiver(grpc_options, pipeline, registry);
//   ...
//   pipeline.BeginShutdown();  // receivers now get kShuttingDown
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "pipeline/exporter.h"
#include "pipeline/ingest.h"
#include "pipeline/memory_budget.h"
#include "pipeline/metrics_registry.h"
#include "pipeline/trace_engine.h"

namespace gateway {

class GatewayPipeline final : public Ingest {
 public:
  // All references must outlive the pipeline.
  GatewayPipeline(TraceEngine& engine, Exporter& exporter, MemoryBudget& budget, MetricsRegistry& metrics);

  IngestResult Accept(Signal signal, std::string request) override;
  bool Ready() const override;

  // From now on every request is answered kShuttingDown. Thread-safe.
  void BeginShutdown() { shutting_down_.store(true, std::memory_order_release); }

 private:
  IngestResult IngestTraces(std::string request);
  IngestResult IngestPassThrough(Signal signal, std::string request);

  TraceEngine& engine_;
  Exporter& exporter_;
  MemoryBudget& budget_;
  std::atomic<bool> shutting_down_{false};

  struct SignalCounters {
    Counter* items_accepted;
    Counter* items_rejected;
    Counter* overloaded;
    Counter* invalid;
  };
  SignalCounters counters_[kSignalCount];
};

}  // namespace gateway
