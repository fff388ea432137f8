// The Ingest implementation that wires receivers to the engine and exporter.
//
// Traces are admitted against the memory budget, scanned on the receiver's
// thread (a malformed request is refused before anything is accepted) and
// handed to the reparenting engine; metrics and logs are admitted, validated
// and handed to the exporter as they came, metrics after the MetricsTransform
// when there is one (cumulative -> delta; pipeline/metrics). With a
// persistent queue, every
// accepted request is on disk before the client hears "accepted", and is
// acknowledged there once all its items are delivered (or given up). The
// pipeline is not Ready while the persistent queue cannot make requests
// durable (a failed write or fdatasync), so load balancers turn away.
//
//   GatewayPipeline pipeline(options, engine, exporter, budget, registry);
//   StartGrpcReceiver(grpc_options, pipeline, registry);
//   ...
//   pipeline.BeginShutdown();  // receivers now get kShuttingDown
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "pipeline/export/exporter.h"
#include "pipeline/ingest/ingest.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/export/persistent_queue.h"
#include "pipeline/reparent/trace_engine.h"
#include "pipeline/metrics/metrics_transform.h"

namespace gateway {

class GatewayPipeline final : public Ingest {
 public:
  // All references (and `wal` and `metrics_transform`, which may be null)
  // must outlive the pipeline. The transform applies to metrics requests as
  // they are accepted, before they are persisted (so not again on replay).
  GatewayPipeline(TraceEngine& engine, Exporter& exporter, MemoryBudget& budget, MetricsRegistry& metrics,
                  PersistentQueue* wal = nullptr, MetricsTransform* metrics_transform = nullptr);

  IngestResult Accept(Signal signal, std::string request) override;
  IngestResult Offer(Signal signal, std::string* request) override;
  bool Ready() const override;
  std::unique_ptr<ReceiveHold> HoldForReceive(int64_t bytes) override;
  bool NoRoomYet(int64_t bytes) const override;
  void AwaitRoom(int64_t bytes, absl::Duration timeout) override;

  // Feeds every request left unacknowledged in the persistent queue by an
  // earlier run back into the pipeline, whatever the memory limit. Call once,
  // before the receivers start. Returns how many requests were replayed.
  absl::StatusOr<int64_t> ReplayPersistentQueue();

  // From now on every request is answered kShuttingDown. Thread-safe.
  void BeginShutdown() { shutting_down_.store(true, std::memory_order_release); }

  // From now on, requests that finish (given up at the shutdown deadline)
  // are left unacknowledged in the persistent queue, to be replayed by the
  // next run. Call after the drain deadline, before the exporter gives up.
  void AbandonUnfinished() { abandon_.store(true, std::memory_order_release); }

 private:
  // `wal_id` is the request's persistent-queue record when it was replayed
  // from there (already on disk), 0 otherwise.
  IngestResult IngestTraces(std::string request, uint64_t wal_id);
  IngestResult IngestPassThrough(Signal signal, std::string request, uint64_t wal_id);
  // A handle that acknowledges persistent-queue record `wal_id` when its last
  // copy goes, unless AbandonUnfinished was called by then.
  std::shared_ptr<void> AckOnRelease(uint64_t wal_id);
  // Appends to the persistent queue when there is one. 0 without one.
  absl::StatusOr<uint64_t> Persist(Signal signal, std::string_view request);

  TraceEngine& engine_;
  Exporter& exporter_;
  MemoryBudget& budget_;
  PersistentQueue* const wal_;
  MetricsTransform* const metrics_transform_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> abandon_{false};

  struct SignalCounters {
    Counter* items_accepted;
    Counter* items_rejected;
    Counter* overloaded;
    Counter* invalid;
  };
  SignalCounters counters_[kSignalCount];
  // Spans refused at ingest (also in items_rejected), replayed ones included.
  struct SpanRefusalCounters {
    Counter* invalid_id;    // trace or span id missing, of the wrong length or zero
    Counter* invalid_utf8;  // a string of the span, its resource or its scope
    Counter* too_old;       // ended more than 60 minutes ago
  };
  SpanRefusalCounters span_refusals_{};
};

}  // namespace gateway
