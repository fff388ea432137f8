#include "pipeline/export/partial_success.h"

#include <string>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace collogs = opentelemetry::proto::collector::logs::v1;

TEST(PartialSuccessTest, ReadsRejectedItemsAndMessageOfEachSignal) {
  coltrace::ExportTraceServiceResponse traces;
  traces.mutable_partial_success()->set_rejected_spans(3);
  traces.mutable_partial_success()->set_error_message("spans too old");
  std::optional<PartialSuccess> p = ParsePartialSuccess(Signal::kTraces, traces.SerializeAsString());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->rejected_items, 3);
  EXPECT_EQ(p->error_message, "spans too old");

  colmetrics::ExportMetricsServiceResponse metrics;
  metrics.mutable_partial_success()->set_rejected_data_points(11);
  p = ParsePartialSuccess(Signal::kMetrics, metrics.SerializeAsString());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->rejected_items, 11);
  EXPECT_EQ(p->error_message, "");

  collogs::ExportLogsServiceResponse logs;
  logs.mutable_partial_success()->set_rejected_log_records(2);
  logs.mutable_partial_success()->set_error_message("too large");
  p = ParsePartialSuccess(Signal::kLogs, logs.SerializeAsString());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->rejected_items, 2);
  EXPECT_EQ(p->error_message, "too large");
}

TEST(PartialSuccessTest, AnEmptyBodyIsFullSuccess) {
  std::optional<PartialSuccess> p = ParsePartialSuccess(Signal::kTraces, "");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->rejected_items, 0);
  EXPECT_EQ(p->error_message, "");
}

TEST(PartialSuccessTest, ABodyThatIsNotAResponseDoesNotParse) {
  EXPECT_FALSE(ParsePartialSuccess(Signal::kTraces, "{\"partialSuccess\":{}}").has_value());
  EXPECT_FALSE(ParsePartialSuccess(Signal::kLogs, std::string("\x0a\x05\x08", 3)).has_value());
}

}  // namespace
}  // namespace gateway
