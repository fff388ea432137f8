// The seam between the metrics path of the pipeline and what rewrites a
// metrics request for the backend (cumulative -> delta, Dynatrace's metric
// contract). GatewayPipeline applies it to every accepted metrics request on
// the receiving thread, before the request is persisted and exported.
//
//   std::unique_ptr<MetricsTransform> t = NewMetricsTransform(options, clock, registry);
//   MetricsTransformResult r = t->Transform(std::move(validated_body));
//   if (r.outcome == MetricsTransformOutcome::kUnparsable) ... refuse as invalid
//   if (r.points > 0) export r.body; answer partial success when r.rejected > 0
#pragma once

#include <cstdint>
#include <string>

namespace gateway {

enum class MetricsTransformOutcome : uint8_t {
  kOk = 0,
  // libprotobuf could not parse the request (e.g. a string field that is not
  // UTF-8); nothing was changed and no series state was touched.
  kUnparsable = 1,
};

struct MetricsTransformResult {
  MetricsTransformOutcome outcome = MetricsTransformOutcome::kOk;
  // The request to export: the input unchanged when nothing had to change.
  std::string body;
  // Data points in the input and in body.
  int64_t input_points = 0;
  int64_t points = 0;
  // Points the client should hear about: dropped because the backend would
  // refuse them (for the response's partial_success), and why.
  int64_t rejected = 0;
  std::string message;
};

class MetricsTransform {
 public:
  virtual ~MetricsTransform() = default;

  // Rewrites a serialized ExportMetricsServiceRequest that passed
  // ValidateExportRequest. Thread-safe; called concurrently from every
  // receiving thread. Never blocks on anything but its own short locks.
  virtual MetricsTransformResult Transform(std::string request) = 0;
};

}  // namespace gateway
