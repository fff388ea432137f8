// Issue 18's scenario on the real gateway binary (persistent queue on): two
// clients share one gateway while Dynatrace (a FakeDynatrace in this
// process) answers 401 to the first exports, as during a token rotation.
// Client A sends only good spans over gRPC; client B sends over HTTP spans
// of which some hold invalid UTF-8 (an attribute value, a name) and some
// ended at the epoch. Every span of A must arrive exactly once (by id), and
// every span of B that its partial success did not refuse, exactly once;
// no refused span may arrive.
#include <signal.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/reliability/gateway_process.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;

constexpr int kRequests = 10;
constexpr int kSpansPerRequest = 20;

class TwoClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    for (int i = 0; i < 4; ++i) dynatrace_->PushResponse({.status = 401});
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/two_clients_XXXXXX");
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    config_path_ = dir_ + "/gateway.yaml";
    std::ofstream(config_path_) << BinaryTestConfigYaml(
        {.dynatrace_url = dynatrace_->url(), .queue_directory = dir_ + "/queue"});
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::string dir_;
  std::string config_path_;
};

TEST_F(TwoClientsTest, AGoodClientLosesNothingToABadNeighbourOrARefusedToken) {
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::Start(GatewayProcess::Binary(), config_path_);
  ASSERT_NE(gateway, nullptr);
  int grpc_port = 0;
  int http_port = 0;
  ASSERT_TRUE(gateway->WaitListening(absl::Now() + absl::Seconds(30), &grpc_port, &http_port)) << gateway->Log();

  // Client A: good spans over gRPC.
  std::vector<std::string> a_acked;
  int a_failed = 0;
  std::thread client_a([&] {
    SpanFactory spans(1);
    for (int i = 0; i < kRequests; ++i) {
      ExportTraceServiceRequest request = spans.Request(kSpansPerRequest);
      if (!GrpcExportRaw(grpc_port, kTraceExport, request.SerializeAsString(), absl::Seconds(5)).ok()) {
        ++a_failed;
        continue;
      }
      for (const auto& span : request.resource_spans(0).scope_spans(0).spans()) a_acked.push_back(span.span_id());
    }
  });

  // Client B: per request, one span with an invalid attribute value, one
  // with a lone surrogate in its name, one ended at the epoch.
  std::vector<std::string> b_expected;
  std::set<std::string> b_refused;
  std::vector<int64_t> b_rejected_counts;
  std::string b_messages;
  int b_failed = 0;
  std::thread client_b([&] {
    SpanFactory spans(uint64_t{1} << 40);
    for (int i = 0; i < kRequests; ++i) {
      ExportTraceServiceRequest request = spans.Request(kSpansPerRequest);
      auto* list = request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans();
      auto* bad_value = list->Mutable(3)->add_attributes();
      bad_value->set_key("http.user_agent");
      bad_value->mutable_value()->set_string_value("Mozilla\xC0\xAF");  // overlong
      list->Mutable(7)->set_end_time_unix_nano(1);
      list->Mutable(11)->set_name("op\xED\xA0\x80");
      const RawHttpResponse response =
          HttpPost(http_port, "/v1/traces", "application/x-protobuf", request.SerializeAsString());
      if (response.status != 200) {
        ++b_failed;
        continue;
      }
      ExportTraceServiceResponse answer;
      if (!answer.ParseFromString(response.body)) {
        ++b_failed;
        continue;
      }
      b_rejected_counts.push_back(answer.partial_success().rejected_spans());
      absl::StrAppend(&b_messages, answer.partial_success().error_message(), "\n");
      for (int k = 0; k < list->size(); ++k) {
        const std::string& id = list->Get(k).span_id();
        if (k == 3 || k == 7 || k == 11) {
          b_refused.insert(id);
        } else {
          b_expected.push_back(id);
        }
      }
    }
  });
  client_a.join();
  client_b.join();
  EXPECT_EQ(a_failed, 0);
  EXPECT_EQ(b_failed, 0);
  ASSERT_EQ(b_rejected_counts.size(), static_cast<size_t>(kRequests));
  for (int64_t rejected : b_rejected_counts) EXPECT_EQ(rejected, 3);
  EXPECT_NE(b_messages.find("invalid UTF-8"), std::string::npos) << b_messages;
  EXPECT_NE(b_messages.find("60 minutes"), std::string::npos) << b_messages;

  std::vector<std::string> expected = a_acked;
  expected.insert(expected.end(), b_expected.begin(), b_expected.end());
  std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, expected, absl::Seconds(60));
  for (const std::string& id : a_acked) EXPECT_EQ(counts[id], 1) << "client A span";
  for (const std::string& id : b_expected) EXPECT_EQ(counts[id], 1) << "client B span";
  for (const std::string& id : b_refused) EXPECT_EQ(counts.count(id), 0u) << "a refused span was exported";
  EXPECT_EQ(counts.size(), expected.size());
  EXPECT_EQ(a_acked.size(), static_cast<size_t>(kRequests * kSpansPerRequest));

  int refused_401 = 0;
  for (const FakeDynatrace::ReceivedRequest& r : dynatrace_->Requests()) refused_401 += r.status == 401 ? 1 : 0;
  EXPECT_EQ(refused_401, 4);
  const std::string metrics = HttpGet(gateway->admin_port(), "/metrics").body;
  EXPECT_NE(metrics.find("gateway_spans_refused_total{reason=\"invalid_utf8\"} 20"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("gateway_spans_refused_total{reason=\"too_old\"} 10"), std::string::npos) << metrics;

  gateway->Signal(SIGTERM);
  const int status = gateway->WaitExit(absl::Now() + absl::Seconds(15));
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace gateway::reliability
