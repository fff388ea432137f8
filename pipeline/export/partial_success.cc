#include "pipeline/export/partial_success.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace collogs = opentelemetry::proto::collector::logs::v1;

template <typename Response, typename Rejected>
std::optional<PartialSuccess> Parse(std::string_view body, Rejected rejected) {
  Response response;
  if (!response.ParseFromArray(body.data(), static_cast<int>(body.size()))) return std::nullopt;
  return PartialSuccess{(response.partial_success().*rejected)(), response.partial_success().error_message()};
}

}  // namespace

std::optional<PartialSuccess> ParsePartialSuccess(Signal signal, std::string_view body) {
  switch (signal) {
    case Signal::kTraces:
      return Parse<coltrace::ExportTraceServiceResponse>(body, &coltrace::ExportTracePartialSuccess::rejected_spans);
    case Signal::kMetrics:
      return Parse<colmetrics::ExportMetricsServiceResponse>(
          body, &colmetrics::ExportMetricsPartialSuccess::rejected_data_points);
    case Signal::kLogs:
      return Parse<collogs::ExportLogsServiceResponse>(body, &collogs::ExportLogsPartialSuccess::rejected_log_records);
  }
  return std::nullopt;
}

}  // namespace gateway
