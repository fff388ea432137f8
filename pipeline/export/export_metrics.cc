#include "pipeline/export/export_metrics.h"

namespace gateway {
namespace {

constexpr const char* kFailureReasons[] = {"network", "timeout",  "http_408",  "http_429",
                                           "http_400", "http_401", "http_403", "http_413", "http_4xx", "http_5xx", "http_other"};
constexpr const char* kRejectReasons[] = {"http_400", "http_413", "http_4xx", "http_5xx", "http_other",
                                          "partial_success"};
constexpr const char* kGiveUpReasons[] = {"max_age", "shutdown"};

}  // namespace

ExportSignalMetrics ExportSignalMetrics::Register(MetricsRegistry& registry, Signal signal) {
  ExportSignalMetrics m;
  const std::string name(SignalName(signal));
  auto requests = [&](const char* outcome) {
    return registry.GetCounter("gateway_export_requests_total", "HTTP export requests by final outcome",
                               {{"signal", name}, {"outcome", outcome}});
  };
  m.delivered_requests = requests("delivered");
  m.rejected_requests = requests("rejected");
  m.given_up_requests = requests("given_up");
  m.exported_items = registry.GetCounter("gateway_exported_items_total",
                                         "Spans, data points or log records accepted by the target",
                                         {{"signal", name}});
  m.retries = registry.GetCounter("gateway_export_retries_total", "Export attempts that were retries",
                                  {{"signal", name}});
  for (const char* reason : kFailureReasons) {
    m.failures[reason] = registry.GetCounter("gateway_export_failures_total", "Failed export attempts",
                                             {{"signal", name}, {"reason", reason}});
  }
  for (const char* reason : kRejectReasons) {
    m.rejected_items[reason] = registry.GetCounter("gateway_export_rejected_items_total",
                                                   "Items the target refused", {{"signal", name}, {"reason", reason}});
  }
  for (const char* reason : kGiveUpReasons) {
    m.given_up_items[reason] =
        registry.GetCounter("gateway_export_given_up_items_total", "Items dropped after retries stopped",
                            {{"signal", name}, {"reason", reason}});
  }
  return m;
}

}  // namespace gateway
