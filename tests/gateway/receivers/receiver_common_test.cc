#include "gateway/receivers/receiver_common.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/logging.h"

namespace gateway {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;

TEST(ReceiverCommonTest, ExportResponseIsEmptyWithoutAPartialSuccess) {
  EXPECT_EQ(ExportResponseProto(0, ""), "");
}

TEST(ReceiverCommonTest, ExportResponseCarriesThePartialSuccessAsLibprotobufReadsIt) {
  for (int64_t rejected : {int64_t{1}, int64_t{300}, int64_t{1} << 40}) {
    ExportTraceServiceResponse response;
    ASSERT_TRUE(response.ParseFromString(ExportResponseProto(rejected, "2 spans had no trace id")));
    EXPECT_EQ(response.partial_success().rejected_spans(), rejected);
    EXPECT_EQ(response.partial_success().error_message(), "2 spans had no trace id");
  }
  ExportTraceServiceResponse message_only;
  ASSERT_TRUE(message_only.ParseFromString(ExportResponseProto(0, std::string(200, 'w'))));
  EXPECT_EQ(message_only.partial_success().rejected_spans(), 0);
  EXPECT_EQ(message_only.partial_success().error_message(), std::string(200, 'w'));
}

TEST(ReceiverCommonTest, StatusProtoCarriesRetryInfoOnlyWithADelay) {
  google::rpc::Status status;
  ASSERT_TRUE(status.ParseFromString(StatusProto(14, "busy", absl::Milliseconds(1500))));
  EXPECT_EQ(status.code(), 14);
  EXPECT_EQ(status.message(), "busy");
  ASSERT_EQ(status.details_size(), 1);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(status.details(0).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  EXPECT_EQ(retry.retry_delay().nanos(), 500'000'000);

  ASSERT_TRUE(status.ParseFromString(StatusProto(3, "bad", absl::ZeroDuration())));
  EXPECT_EQ(status.details_size(), 0);
}

TEST(ReceiverCommonTest, StatusJsonEscapesTheMessageAndWritesTheDelay) {
  EXPECT_EQ(StatusJson(3, "bad \"x\"", absl::ZeroDuration()), R"({"code":3,"message":"bad \"x\""})");
  EXPECT_EQ(StatusJson(14, "busy", absl::Seconds(2)),
            R"({"code":14,"message":"busy","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]})");
  EXPECT_NE(StatusJson(14, "busy", absl::Milliseconds(1250)).find(R"("retryDelay":"1.250s")"), std::string::npos);
}

TEST(ReceiverCommonTest, BearerTokenMatchesOnlyTheExactTokenUnderAnyCaseOfTheScheme) {
  EXPECT_TRUE(BearerTokenMatches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(BearerTokenMatches("bearer s3cret", "s3cret"));
  EXPECT_TRUE(BearerTokenMatches("BEARER s3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer S3CRET", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("s3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer", "s3cret"));
}

TEST(ReceiverCommonTest, ReceiverMetricsCountPerTransportSignalAndReason) {
  MetricsRegistry registry;
  ReceiverMetrics grpc(registry, "grpc");
  ReceiverMetrics http(registry, "http");
  grpc.For(Signal::kTraces).requests->Add();
  http.Rejected(Signal::kLogs, RejectReason::kTooLarge);
  EXPECT_EQ(registry.CounterValue("gateway_requests_received_total", {{"transport", "grpc"}, {"signal", "traces"}}),
            1);
  EXPECT_EQ(registry.CounterValue("gateway_requests_received_total", {{"transport", "http"}, {"signal", "traces"}}),
            0);
  EXPECT_EQ(registry.CounterValue("gateway_requests_rejected_total",
                                  {{"transport", "http"}, {"signal", "logs"}, {"reason", "too_large"}}),
            1);
}

std::vector<std::string>* captured = nullptr;
void Capture(std::string_view line) { captured->emplace_back(line); }

TEST(ReceiverCommonTest, RejectLogWritesAtMostItsRatePerSecond) {
  std::vector<std::string> lines;
  captured = &lines;
  SetLogSink(&Capture);
  RejectLog log(/*per_second=*/3);
  // Bounded: within one wall-clock second at most 3 lines, the rest counted.
  for (int i = 0; i < 50; ++i) log.Rejected("http", Signal::kTraces, RejectReason::kInvalid, "bad body");
  SetLogSink(nullptr);
  captured = nullptr;
  // 50 calls may straddle a second boundary: then 3 more lines, one of which
  // reports the suppressed count.
  ASSERT_GE(lines.size(), 3u);
  ASSERT_LE(lines.size(), 6u);
  EXPECT_NE(lines[0].find("\"reason\":\"invalid\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"detail\":\"bad body\""), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace gateway
