#include "pipeline/gateway_pipeline.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"
#include "pipeline/otlp/otlp_wire.h"
#include "pipeline/otlp/trace_scanner.h"

namespace gateway {

namespace {

// Runs `f` when destroyed.
template <typename F>
class RunOnDestroy final {
 public:
  explicit RunOnDestroy(F f) : f_(std::move(f)) {}
  ~RunOnDestroy() { f_(); }
  RunOnDestroy(const RunOnDestroy&) = delete;
  RunOnDestroy& operator=(const RunOnDestroy&) = delete;

 private:
  F f_;
};

// A handle that runs `f` once, when its last copy is destroyed. Attached to a
// request buffer (or captured in an export request's on_done), it ties a
// release to the lifetime of the data it accounts for. Never null: the
// batcher tells handles apart by their pointer.
template <typename F>
std::shared_ptr<void> OnLastRelease(F f) {
  return std::make_shared<RunOnDestroy<F>>(std::move(f));
}

// What a receiver holds of the budget for a body it is reading.
class BudgetHold final : public ReceiveHold {
 public:
  BudgetHold(MemoryBudget& budget, const Ingest& ingest) : budget_(budget), ingest_(ingest) {}
  ~BudgetHold() override { budget_.Release(held_); }
  BudgetHold(const BudgetHold&) = delete;
  BudgetHold& operator=(const BudgetHold&) = delete;

  bool GrowTo(int64_t bytes) override {
    if (bytes <= held_) return true;
    if (!budget_.TryAdmit(bytes - held_)) return false;
    held_ = bytes;
    return true;
  }

  bool NoRoomYetToGrowTo(int64_t bytes) const override { return bytes > held_ && ingest_.NoRoomYet(bytes - held_); }

 private:
  MemoryBudget& budget_;
  const Ingest& ingest_;
  int64_t held_ = 0;
};

// Dynatrace does not ingest spans that ended longer ago than this.
constexpr absl::Duration kMaxSpanAge = absl::Minutes(60);

// Removes the spans with a known end time before `cutoff_unix_nano`;
// returns how many.
int64_t DropSpansEndedBefore(uint64_t cutoff_unix_nano, std::vector<SpanRef>* spans) {
  const size_t before = spans->size();
  std::erase_if(*spans, [cutoff_unix_nano](const SpanRef& span) {
    return span.end_time_unix_nano != 0 && span.end_time_unix_nano < cutoff_unix_nano;
  });
  return static_cast<int64_t>(before - spans->size());
}

}  // namespace

GatewayPipeline::GatewayPipeline(TraceEngine& engine, Exporter& exporter, MemoryBudget& budget,
                                 MetricsRegistry& metrics, PersistentQueue* wal, MetricsTransform* metrics_transform)
    : engine_(engine), exporter_(exporter), budget_(budget), wal_(wal), metrics_transform_(metrics_transform) {
  for (Signal s : {Signal::kTraces, Signal::kMetrics, Signal::kLogs}) {
    const MetricLabels labels = {{"signal", std::string(SignalName(s))}};
    counters_[static_cast<int>(s)] = SignalCounters{
        metrics.GetCounter("gateway_items_accepted_total", "Spans, data points or log records accepted",
                           labels),
        metrics.GetCounter("gateway_items_refused_total",
                           "Items refused inside accepted requests (partial success)", labels),
        metrics.GetCounter("gateway_requests_backpressured_total",
                           "Requests refused because the pipeline was full", labels),
        metrics.GetCounter("gateway_requests_invalid_total", "Requests refused as malformed", labels),
    };
  }
  const auto span_refusal = [&metrics](const char* reason) {
    return metrics.GetCounter("gateway_spans_refused_total",
                              "Spans refused at ingest inside accepted requests, by reason", {{"reason", reason}});
  };
  span_refusals_ = SpanRefusalCounters{span_refusal("invalid_id"), span_refusal("invalid_utf8"),
                                       span_refusal("too_old")};
  metrics.AddGauge("gateway_memory_in_flight_bytes", "Bytes accepted and not yet exported", {},
                   [&budget] { return static_cast<double>(budget.InFlight()); });
  metrics.AddGauge("gateway_memory_limit_bytes", "Admission limit on bytes in flight", {},
                   [&budget] { return static_cast<double>(budget.Limit()); });
}

bool GatewayPipeline::Ready() const {
  return !shutting_down_.load(std::memory_order_acquire) && budget_.HasRoom() && exporter_.Healthy() &&
         (wal_ == nullptr || wal_->Healthy());
}

std::unique_ptr<ReceiveHold> GatewayPipeline::HoldForReceive(int64_t bytes) {
  if (shutting_down_.load(std::memory_order_acquire) || !budget_.HasRoom()) return nullptr;
  auto hold = std::make_unique<BudgetHold>(budget_, *this);
  if (!hold->GrowTo(bytes)) return nullptr;
  return hold;
}

bool GatewayPipeline::NoRoomYet(int64_t bytes) const {
  return !shutting_down_.load(std::memory_order_acquire) && !budget_.UnderPressure() && !budget_.Fits(bytes);
}

void GatewayPipeline::AwaitRoom(int64_t bytes, absl::Duration timeout) { budget_.AwaitRoomFor(bytes, timeout); }

IngestResult GatewayPipeline::Accept(Signal signal, std::string request) {
  IngestResult result = Offer(signal, &request);
  // Offer leaves a refusal for room uncounted: its caller may offer again.
  if (result.no_room) counters_[static_cast<int>(signal)].overloaded->Add();
  return result;
}

IngestResult GatewayPipeline::Offer(Signal signal, std::string* request) {
  if (shutting_down_.load(std::memory_order_acquire)) {
    return {IngestOutcome::kShuttingDown, 0, "gateway is shutting down", absl::Seconds(1)};
  }
  SignalCounters& counters = counters_[static_cast<int>(signal)];
  const int64_t size = static_cast<int64_t>(request->size());
  if (!budget_.TryAdmit(size)) {
    IngestResult refused{IngestOutcome::kOverloaded, 0, "gateway memory limit reached, retry later",
                         absl::Seconds(1)};
    refused.no_room = !budget_.UnderPressure();
    if (!refused.no_room) counters.overloaded->Add();
    return refused;
  }
  IngestResult result = signal == Signal::kTraces ? IngestTraces(std::move(*request), 0)
                                                  : IngestPassThrough(signal, std::move(*request), 0);
  if (result.outcome == IngestOutcome::kOverloaded) counters.overloaded->Add();  // persistent queue full
  if (result.outcome == IngestOutcome::kInvalid) {
    counters.invalid->Add();
    LogWarn("request_invalid", {{"signal", std::string(SignalName(signal))}, {"error", result.message}});
  }
  if (result.rejected_items > 0) counters.items_rejected->Add(result.rejected_items);
  return result;
}

std::shared_ptr<void> GatewayPipeline::AckOnRelease(uint64_t wal_id) {
  return OnLastRelease([wal = wal_, wal_id, abandon = &abandon_] {
    if (!abandon->load(std::memory_order_acquire)) wal->Ack(wal_id);
  });
}

absl::StatusOr<uint64_t> GatewayPipeline::Persist(Signal signal, std::string_view request) {
  if (wal_ == nullptr) return uint64_t{0};
  absl::StatusOr<uint64_t> id = wal_->Append(signal, request);
  if (!id.ok()) {
    LogWarn("persistent_queue_append_failed",
            {{"signal", std::string(SignalName(signal))}, {"error", std::string(id.status().message())}});
  }
  return id;
}

absl::StatusOr<int64_t> GatewayPipeline::ReplayPersistentQueue() {
  if (wal_ == nullptr) return int64_t{0};
  int64_t replayed = 0;
  absl::Status status = wal_->Replay([this, &replayed](uint64_t id, Signal signal, std::string body) {
    budget_.ForceAdmit(static_cast<int64_t>(body.size()));
    IngestResult result = signal == Signal::kTraces ? IngestTraces(std::move(body), id)
                                                    : IngestPassThrough(signal, std::move(body), id);
    if (result.outcome != IngestOutcome::kAccepted) {
      // It was valid when it was written; a record that no longer is cannot
      // be delivered, so it is acknowledged rather than replayed forever.
      wal_->Ack(id);
      LogWarn("persistent_queue_record_dropped", {{"id", absl::StrCat(id)}, {"error", result.message}});
    }
    ++replayed;
  });
  if (!status.ok()) return status;
  if (replayed > 0) LogInfo("persistent_queue_replayed", {{"requests", absl::StrCat(replayed)}});
  return replayed;
}

IngestResult GatewayPipeline::IngestTraces(std::string request, uint64_t wal_id) {
  const int64_t size = static_cast<int64_t>(request.size());
  // The scanner reads only what reparenting needs; a malformed attribute
  // deeper down would make the target refuse the whole batch it lands in,
  // other clients' spans included, so the request is checked in full here.
  // Strings are checked for UTF-8 on the way; only a request with an
  // invalid one pays for the scanner's span-by-span search.
  ValidationNotes notes;
  if (absl::Status valid = ValidateExportRequest(Signal::kTraces, request, &notes); !valid.ok()) {
    budget_.Release(size);
    return {IngestOutcome::kInvalid, 0, std::string(valid.message()), absl::ZeroDuration()};
  }
  absl::StatusOr<ScannedTraceRequest> scanned =
      ScanTraceRequest(std::move(request), notes.invalid_utf8 ? Utf8Check::kPerSpan : Utf8Check::kSkip);
  if (!scanned.ok()) {
    budget_.Release(size);
    return {IngestOutcome::kInvalid, 0, std::string(scanned.status().message()), absl::ZeroDuration()};
  }
  IngestResult result;
  result.rejected_items = scanned->rejected_spans;
  result.message = scanned->rejection_message;
  span_refusals_.invalid_id->Add(scanned->rejected_spans - scanned->invalid_utf8_spans);
  span_refusals_.invalid_utf8->Add(scanned->invalid_utf8_spans);
  // Dynatrace drops spans that ended more than an hour ago: refused here,
  // one by one, so that they never decide a batch's age for the spans they
  // would share it with.
  const int64_t too_old = DropSpansEndedBefore(
      static_cast<uint64_t>(absl::ToUnixNanos(absl::Now() - kMaxSpanAge)), &scanned->spans);
  if (too_old > 0) {
    span_refusals_.too_old->Add(too_old);
    result.rejected_items += too_old;
    absl::StrAppend(&result.message, result.message.empty() ? "" : "; ", too_old,
                    " span(s) ended more than 60 minutes ago, which Dynatrace does not ingest");
  }
  if (wal_ != nullptr && !scanned->spans.empty()) {
    if (wal_id == 0) {
      absl::StatusOr<uint64_t> id = Persist(Signal::kTraces, scanned->buffer->bytes);
      if (!id.ok()) {
        budget_.Release(size);
        return {IngestOutcome::kOverloaded, 0, "persistent queue full or failing, retry later", absl::Seconds(5)};
      }
      wal_id = *id;
    }
    scanned->buffer->completion = AckOnRelease(wal_id);
  } else if (wal_ != nullptr && wal_id != 0) {
    wal_->Ack(wal_id);  // nothing in it to deliver
  }
  // The request stays admitted for as long as its buffer lives: spans held
  // for their parent or queued for a batch keep all of it in memory. The
  // batcher admits each export body separately.
  scanned->buffer->admission = OnLastRelease([budget = &budget_, size] { budget->Release(size); });

  counters_[static_cast<int>(Signal::kTraces)].items_accepted->Add(static_cast<int64_t>(scanned->spans.size()));
  if (!scanned->spans.empty()) engine_.Submit(*std::move(scanned));
  return result;
}

IngestResult GatewayPipeline::IngestPassThrough(Signal signal, std::string request, uint64_t wal_id) {
  const int64_t size = static_cast<int64_t>(request.size());
  // Metrics the transform decodes are refused whole when a string is not
  // UTF-8 (libprotobuf does not parse them); the notes say why. Other
  // metrics and logs pass through: a 400 from the target is then isolated
  // by the exporter's split.
  const bool transformed = signal == Signal::kMetrics && metrics_transform_ != nullptr && wal_id == 0;
  ValidationNotes notes;
  if (absl::Status valid = ValidateExportRequest(signal, request, transformed ? &notes : nullptr); !valid.ok()) {
    budget_.Release(size);
    return {IngestOutcome::kInvalid, 0, std::string(valid.message()), absl::ZeroDuration()};
  }
  IngestResult result;
  int64_t items = -1;     // data points to export, when the transform counted them
  int64_t accepted = -1;  // items accepted from the client, likewise
  // A replayed record was transformed before it was persisted.
  if (transformed) {
    MetricsTransformResult t = metrics_transform_->Transform(std::move(request));
    if (t.outcome != MetricsTransformOutcome::kOk) {
      budget_.Release(size);
      if (notes.invalid_utf8) t.message = "invalid UTF-8 in a string field of the metrics request";
      return {IngestOutcome::kInvalid, 0, std::move(t.message), absl::ZeroDuration()};
    }
    request = std::move(t.body);
    items = t.points;
    result.rejected_items = t.rejected;
    result.message = std::move(t.message);
    accepted = t.input_points - t.rejected;
    if (items == 0) {  // all of it absorbed (first points) or refused
      budget_.Release(size);
      counters_[static_cast<int>(signal)].items_accepted->Add(accepted);
      return result;
    }
  }
  if (wal_ != nullptr && wal_id == 0) {
    absl::StatusOr<uint64_t> id = Persist(signal, request);
    if (!id.ok()) {
      budget_.Release(size);
      return {IngestOutcome::kOverloaded, 0, "persistent queue full or failing, retry later", absl::Seconds(5)};
    }
    wal_id = *id;
  }
  ExportRequest out;
  out.signal = signal;
  out.items = items >= 0 ? items : CountItems(signal, request);
  out.body = std::move(request);
  out.on_done = [budget = &budget_, size, ack = wal_ != nullptr ? AckOnRelease(wal_id) : nullptr](
                    ExportResult) mutable {
    budget->Release(size);
    ack.reset();
  };
  counters_[static_cast<int>(signal)].items_accepted->Add(accepted >= 0 ? accepted : out.items);
  exporter_.Export(std::move(out));
  return result;
}

}  // namespace gateway
