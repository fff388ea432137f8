// Fuzzes the signal-agnostic wire checks for metrics and logs: for a body
// that ValidateExportRequest accepts, SplitExportRequest's parts are each
// valid, within the size bound unless they hold a single item, within the
// item bound, and their item counts add up to CountItems of the whole.
// Bodies libprotobuf parses must validate unless they carry a known field
// with the wrong wire type or a group (which libprotobuf files as unknown),
// including inside a oneof member a later member replaced.
//
// Input: byte 0 picks metrics or logs; byte 1 the byte bound (64 .. 4144);
// byte 2 the item bound (0 = none, else 1 .. 255); the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "pipeline/otlp/otlp_wire.h"
#include "pipeline/base/signal.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/proto_oracle.h"

namespace {

using gateway::Signal;

// Items as libprotobuf sees them; *parsed is false when it rejects the body,
// *strict as gateway::fuzz::ParsedStrictly.
int64_t LibprotobufItems(Signal signal, const std::string& body, bool* parsed, bool* strict) {
  int64_t n = 0;
  if (signal == Signal::kLogs) {
    opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest r;
    *parsed = r.ParseFromString(body);
    *strict = *parsed && gateway::fuzz::ParsedStrictly(r) && !gateway::fuzz::OverwritesAOneof(r.GetDescriptor(), body);
    for (const auto& rl : r.resource_logs()) {
      for (const auto& sl : rl.scope_logs()) n += sl.log_records_size();
    }
    return n;
  }
  opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest r;
  *parsed = r.ParseFromString(body);
  *strict = *parsed && gateway::fuzz::ParsedStrictly(r) && !gateway::fuzz::OverwritesAOneof(r.GetDescriptor(), body);
  for (const auto& rm : r.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        n += m.gauge().data_points_size() + m.sum().data_points_size() + m.histogram().data_points_size() +
             m.exponential_histogram().data_points_size() + m.summary().data_points_size();
      }
    }
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = gateway::fuzz::QuietLibprotobuf();
  (void)quiet;
  if (size < 3) return 0;
  const Signal signal = (data[0] & 1) != 0 ? Signal::kLogs : Signal::kMetrics;
  const size_t max_bytes = 64 + size_t{data[1]} * 16;
  const int64_t max_items = data[2];
  const std::string body(reinterpret_cast<const char*>(data) + 3, size - 3);

  bool parsed = false;
  bool strict = false;
  const int64_t oracle_items = LibprotobufItems(signal, body, &parsed, &strict);
  const absl::Status valid = gateway::ValidateExportRequest(signal, body);
  gateway::ValidationNotes notes;
  FUZZ_CHECK(gateway::ValidateExportRequest(signal, body, &notes) == valid, "notes change the verdict");
  if (!valid.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(valid), "error other than InvalidArgument");
    FUZZ_CHECK(!strict, "libprotobuf parses a body the validator rejects");
    return 0;
  }
  // libprotobuf refuses invalid UTF-8 in every string field the validator
  // checks.
  if (parsed) FUZZ_CHECK(!notes.invalid_utf8, "invalid UTF-8 noted in a body libprotobuf parses");
  const int64_t items = gateway::CountItems(signal, body);
  FUZZ_CHECK(items >= 0, "negative item count");
  // libprotobuf also checks UTF-8 and nested values the validator skips, so
  // only a successful parse is an oracle.
  if (parsed) FUZZ_CHECK(oracle_items == items, "CountItems differs from libprotobuf");

  const std::vector<std::string> parts = gateway::SplitExportRequest(signal, body, max_bytes, max_items);
  FUZZ_CHECK(!parts.empty() || items == 0, "no parts for a request with items");
  int64_t total = 0;
  for (const std::string& part : parts) {
    FUZZ_CHECK(gateway::ValidateExportRequest(signal, part).ok(), "split part is not valid");
    const int64_t n = gateway::CountItems(signal, part);
    FUZZ_CHECK(part.size() <= max_bytes || n <= 1, "part over max_bytes with more than one item");
    if (max_items > 0) FUZZ_CHECK(n <= max_items, "part over max_items");
    total += n;
  }
  FUZZ_CHECK(total == items, "item counts of the parts do not add up");
  return 0;
}
