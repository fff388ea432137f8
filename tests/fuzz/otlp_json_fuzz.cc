// Fuzzes the OTLP/JSON edge conversion: OtlpJsonToProto never crashes, fails
// only with InvalidArgument, and whatever it accepts comes out as protobuf
// wire bytes that libprotobuf parses as the signal's Export*ServiceRequest.
//
// Input: byte 0 picks the signal (mod 3); the rest is the JSON body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pipeline/otlp/otlp_json.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/signal.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/proto_oracle.h"

namespace {

bool ParsesAs(gateway::Signal signal, const std::string& wire) {
  switch (signal) {
    case gateway::Signal::kTraces: {
      opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest r;
      return r.ParseFromString(wire);
    }
    case gateway::Signal::kMetrics: {
      opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest r;
      return r.ParseFromString(wire);
    }
    case gateway::Signal::kLogs: {
      opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest r;
      return r.ParseFromString(wire);
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = gateway::fuzz::QuietLibprotobuf();
  (void)quiet;
  if (size < 1) return 0;
  const auto signal = static_cast<gateway::Signal>(data[0] % 3);
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);

  absl::StatusOr<std::string> wire = gateway::OtlpJsonToProto(signal, json);
  if (!wire.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(wire.status()), "error other than InvalidArgument");
    return 0;
  }
  FUZZ_CHECK(ParsesAs(signal, *wire), "converted request does not parse with libprotobuf");

  // The response writer takes any message text.
  const std::string reply = gateway::ExportResponseJson(signal, static_cast<int64_t>(size), json.substr(0, 64));
  FUZZ_CHECK(!reply.empty(), "empty response JSON");
  return 0;
}
