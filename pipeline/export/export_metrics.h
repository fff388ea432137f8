// The counters the OTLP/HTTP exporter keeps for one signal, registered in a
// MetricsRegistry at once so that every label combination shows from the
// start (at zero):
//
//   gateway_export_requests_total{signal,outcome=delivered|rejected|given_up}
//   gateway_exported_items_total{signal}
//   gateway_export_retries_total{signal}
//   gateway_export_failures_total{signal,reason}       (failed attempts)
//   gateway_export_rejected_items_total{signal,reason}
//   gateway_export_given_up_items_total{signal,reason}
//
//   ExportSignalMetrics m = ExportSignalMetrics::Register(registry, Signal::kTraces);
//   m.Failures("http_429")->Add();
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/signal.h"

namespace gateway {

struct ExportSignalMetrics {
  // The counters live in `registry`, which must outlive their users.
  static ExportSignalMetrics Register(MetricsRegistry& registry, Signal signal);

  // By reason; the reasons are the ones RetryPolicy names (failures:
  // "network", "timeout", "http_408", "http_429", "http_413", "http_4xx",
  // "http_5xx", "http_other"; rejected items: "http_413", "http_4xx",
  // "http_5xx", "http_other", "partial_success"; given-up items: "max_age",
  // "shutdown"). Any other reason is a bug and throws std::out_of_range.
  Counter* Failures(std::string_view reason) const { return failures.at(std::string(reason)); }
  Counter* RejectedItems(std::string_view reason) const { return rejected_items.at(std::string(reason)); }
  Counter* GivenUpItems(std::string_view reason) const { return given_up_items.at(std::string(reason)); }

  Counter* delivered_requests = nullptr;
  Counter* rejected_requests = nullptr;
  Counter* given_up_requests = nullptr;
  Counter* exported_items = nullptr;
  Counter* retries = nullptr;
  std::map<std::string, Counter*> failures;
  std::map<std::string, Counter*> rejected_items;
  std::map<std::string, Counter*> given_up_items;
};

}  // namespace gateway
