#include "pipeline/gateway_pipeline.h"

#include <utility>

#include "pipeline/absl_compat.h"
#include "pipeline/logging.h"
#include "pipeline/otlp_wire.h"
#include "pipeline/trace_wire.h"

namespace gateway {

GatewayPipeline::GatewayPipeline(TraceEngine& engine, Exporter& exporter, MemoryBudget& budget,
                                 MetricsRegistry& metrics)
    : engine_(engine), exporter_(exporter), budget_(budget) {
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
  metrics.AddGauge("gateway_memory_in_flight_bytes", "Bytes accepted and not yet exported", {},
                   [&budget] { return static_cast<double>(budget.InFlight()); });
  metrics.AddGauge("gateway_memory_limit_bytes", "Admission limit on bytes in flight", {},
                   [&budget] { return static_cast<double>(budget.Limit()); });
}

bool GatewayPipeline::Ready() const {
  return !shutting_down_.load(std::memory_order_acquire) && budget_.InFlight() < budget_.Limit() &&
         exporter_.Healthy();
}

IngestResult GatewayPipeline::Accept(Signal signal, std::string request) {
  if (shutting_down_.load(std::memory_order_acquire)) {
    return {IngestOutcome::kShuttingDown, 0, "gateway is shutting down", absl::Seconds(1)};
  }
  SignalCounters& counters = counters_[static_cast<int>(signal)];
  const int64_t size = static_cast<int64_t>(request.size());
  if (!budget_.TryAdmit(size)) {
    counters.overloaded->Add();
    return {IngestOutcome::kOverloaded, 0, "gateway memory limit reached, retry later", absl::Seconds(1)};
  }
  IngestResult result = signal == Signal::kTraces ? IngestTraces(std::move(request))
                                                  : IngestPassThrough(signal, std::move(request));
  if (result.outcome == IngestOutcome::kInvalid) {
    counters.invalid->Add();
    LogWarn("request_invalid", {{"signal", std::string(SignalName(signal))}, {"error", result.message}});
  }
  if (result.rejected_items > 0) counters.items_rejected->Add(result.rejected_items);
  return result;
}

IngestResult GatewayPipeline::IngestTraces(std::string request) {
  const int64_t size = static_cast<int64_t>(request.size());
  // The scanner reads only what reparenting needs; a malformed attribute
  // deeper down would make the target refuse the whole batch it lands in,
  // other clients' spans included, so the request is checked in full here.
  if (absl::Status valid = ValidateExportRequest(Signal::kTraces, request); !valid.ok()) {
    budget_.Release(size);
    return {IngestOutcome::kInvalid, 0, std::string(valid.message()), absl::ZeroDuration()};
  }
  absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(request));
  if (!scanned.ok()) {
    budget_.Release(size);
    return {IngestOutcome::kInvalid, 0, std::string(scanned.status().message()), absl::ZeroDuration()};
  }
  // Each span carries its own bytes of budget to the exporter; the framing
  // around them is done with now.
  int64_t span_bytes = 0;
  for (const SpanRef& span : scanned->spans) span_bytes += static_cast<int64_t>(span.message.size());
  budget_.Release(size - span_bytes);

  IngestResult result;
  result.rejected_items = scanned->rejected_spans;
  result.message = scanned->rejection_message;
  counters_[static_cast<int>(Signal::kTraces)].items_accepted->Add(static_cast<int64_t>(scanned->spans.size()));
  if (!scanned->spans.empty()) engine_.Submit(*std::move(scanned));
  return result;
}

IngestResult GatewayPipeline::IngestPassThrough(Signal signal, std::string request) {
  const int64_t size = static_cast<int64_t>(request.size());
  if (absl::Status valid = ValidateExportRequest(signal, request); !valid.ok()) {
    budget_.Release(size);
    return {IngestOutcome::kInvalid, 0, std::string(valid.message()), absl::ZeroDuration()};
  }
  ExportRequest out;
  out.signal = signal;
  out.items = CountItems(signal, request);
  out.body = std::move(request);
  out.on_done = [budget = &budget_, size](ExportResult) { budget->Release(size); };
  counters_[static_cast<int>(signal)].items_accepted->Add(out.items);
  exporter_.Export(std::move(out));
  return {};
}

}  // namespace gateway
