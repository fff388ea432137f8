#include "pipeline/export/debug_exporter.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace collogs = opentelemetry::proto::collector::logs::v1;

void SetService(opentelemetry::proto::resource::v1::Resource* resource, const std::string& name) {
  auto* kv = resource->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value(name);
}

class DebugExporterTest : public ::testing::Test {
 protected:
  ExportResult ExportAndWait(Signal signal, std::string body) {
    ExportResult result{ExportOutcome::kGivenUp, -1};
    bool called = false;
    ExportRequest request;
    request.signal = signal;
    request.body = std::move(body);
    request.on_done = [&](ExportResult r) {
      result = r;
      called = true;
    };
    exporter_->Export(std::move(request));
    EXPECT_TRUE(called);
    return result;
  }
  std::vector<std::string> Lines() {
    return absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  }

  std::ostringstream out_;
  std::unique_ptr<Exporter> exporter_ = NewDebugExporter(out_);
};

TEST_F(DebugExporterTest, PrintsOneLinePerSpanWithReparentMarks) {
  coltrace::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  SetService(rs->mutable_resource(), "orders");
  auto* ss = rs->add_scope_spans();
  auto* producer = ss->add_spans();
  producer->set_name("publish");
  producer->set_trace_id(std::string(16, '\xab'));
  producer->set_span_id(std::string(8, '\x01'));
  auto* consumer = ss->add_spans();
  consumer->set_name("process");
  consumer->set_trace_id(std::string(16, '\xab'));
  consumer->set_span_id(std::string(8, '\x02'));
  consumer->set_parent_span_id(std::string(8, '\x01'));
  auto* attr = consumer->add_attributes();
  attr->set_key("gateway.reparent.original_trace_id");
  attr->mutable_value()->set_string_value("cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
  auto* fanout = consumer->add_attributes();
  fanout->set_key("gateway.reparent.fanout_of_span_id");
  fanout->mutable_value()->set_string_value("0303030303030303");

  EXPECT_EQ(ExportAndWait(Signal::kTraces, request.SerializeAsString()).outcome, ExportOutcome::kDelivered);
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  EXPECT_EQ(lines[0],
            "span service=orders name=\"publish\" trace=abababababababababababababababab span=0101010101010101 "
            "parent=-");
  EXPECT_EQ(lines[1],
            "span service=orders name=\"process\" trace=abababababababababababababababab span=0202020202020202 "
            "parent=0101010101010101 reparented original_trace=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd "
            "fanout_of=0303030303030303");
}

TEST_F(DebugExporterTest, SummarizesMetricsAndLogs) {
  colmetrics::ExportMetricsServiceRequest metrics;
  auto* rm = metrics.add_resource_metrics();
  SetService(rm->mutable_resource(), "billing");
  auto* sm = rm->add_scope_metrics();
  auto* m1 = sm->add_metrics();
  m1->mutable_sum()->add_data_points();
  m1->mutable_sum()->add_data_points();
  sm->add_metrics()->mutable_gauge()->add_data_points();
  EXPECT_EQ(ExportAndWait(Signal::kMetrics, metrics.SerializeAsString()).outcome, ExportOutcome::kDelivered);

  collogs::ExportLogsServiceRequest logs;
  auto* rl = logs.add_resource_logs();
  SetService(rl->mutable_resource(), "billing");
  rl->add_scope_logs()->add_log_records();
  auto* rl2 = logs.add_resource_logs();
  SetService(rl2->mutable_resource(), "audit");
  rl2->add_scope_logs()->add_log_records();
  EXPECT_EQ(ExportAndWait(Signal::kLogs, logs.SerializeAsString()).outcome, ExportOutcome::kDelivered);

  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  EXPECT_EQ(lines[0], "metrics services=billing metrics=2 data_points=3");
  EXPECT_EQ(lines[1], "logs services=audit,billing log_records=2");
}

TEST_F(DebugExporterTest, RejectsUnparseableBodiesAndGivesUpAfterShutdown) {
  EXPECT_EQ(ExportAndWait(Signal::kTraces, "\xff\xff\xff").outcome, ExportOutcome::kRejected);
  EXPECT_NE(out_.str().find("unparseable"), std::string::npos);
  ASSERT_TRUE(exporter_->Shutdown(absl::Now()).ok());
  EXPECT_EQ(ExportAndWait(Signal::kLogs, "").outcome, ExportOutcome::kGivenUp);
  EXPECT_EQ(exporter_->QueuedBytes(), 0);
  EXPECT_TRUE(exporter_->Healthy());
}

}  // namespace
}  // namespace gateway
