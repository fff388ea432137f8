// Dynatrace misbehaving behind a running gateway: slow, down and back on the
// same port, answering 429/500/503 with Retry-After, closing connections
// mid-request. Every span a client got acknowledged must arrive at the fake:
// exactly once when the fake answered cleanly, at least once where a request
// the fake received but never answered (closed connection, timeout) is
// retried, since the gateway cannot know whether it was ingested.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "gateway/gateway_app.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

class DownstreamFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(ReliabilityConfig(*dynatrace_), {});
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
  }

  void TearDown() override {
    if (app_) app_->Shutdown();
  }

  // Sends `requests` requests of `spans_each` spans, alternating gRPC and
  // HTTP; returns the acknowledged span ids.
  std::vector<std::string> Send(int requests, int spans_each) {
    std::vector<std::string> acked;
    for (int i = 0; i < requests; ++i) {
      ExportTraceServiceRequest request = spans_.Request(spans_each);
      const std::string body = request.SerializeAsString();
      const bool ok = i % 2 == 0
                          ? GrpcExportRaw(app_->grpc_port(), kTraceExport, body).ok()
                          : HttpPost(app_->http_port(), "/v1/traces", "application/x-protobuf", body).status == 200;
      if (!ok) continue;
      for (const auto& span : request.resource_spans(0).scope_spans(0).spans()) acked.push_back(span.span_id());
    }
    sent_ += static_cast<int64_t>(acked.size());
    return acked;
  }

  // Export requests the target refused for good, once there is one (at
  // most 10 s).
  int64_t WaitForRejectedExports() {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    int64_t rejected = 0;
    for (int i = 0; i < 1000 && absl::Now() < deadline && rejected == 0; ++i) {
      rejected = app_->metrics().CounterValue("gateway_export_requests_total",
                                              {{"signal", "traces"}, {"outcome", "rejected"}});
      // Polled: the exporter may still be isolating refused items.
      if (rejected == 0) absl::SleepFor(absl::Milliseconds(10));
    }
    return rejected;
  }

  // Waits until every acknowledged span arrived; checks none is missing and
  // counts duplicates.
  void ExpectAllArrived(const std::vector<std::string>& acked, bool duplicates_allowed) {
    std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, acked, absl::Seconds(30));
    int64_t missing = 0;
    int64_t duplicated = 0;
    for (const std::string& id : acked) {
      auto it = counts.find(id);
      if (it == counts.end()) {
        ++missing;
      } else if (it->second > 1) {
        ++duplicated;
      }
    }
    EXPECT_EQ(missing, 0) << "acknowledged spans that never arrived";
    if (!duplicates_allowed) {
      EXPECT_EQ(duplicated, 0) << "spans delivered twice";
    }
    RecordProperty("spans_acked", static_cast<int>(acked.size()));
    RecordProperty("spans_duplicated", static_cast<int>(duplicated));
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::unique_ptr<GatewayApp> app_;
  SpanFactory spans_;
  int64_t sent_ = 0;
};

TEST_F(DownstreamFaultsTest, RetryableErrorsWithRetryAfterDeliverEverySpanExactlyOnce) {
  // OTLP/HTTP's retryable answers (429, 502, 503, 504).
  dynatrace_->SetScript({{.status = 429, .retry_after = "1"},
                         {.status = 503, .retry_after = "0"},
                         {.status = 502},
                         {.status = 503},
                         {.status = 504},
                         {.status = 429, .retry_after = "0"}});
  const std::vector<std::string> acked = Send(20, 10);
  ASSERT_EQ(acked.size(), 200u) << "the gateway should accept while the backend fails";
  ExpectAllArrived(acked, /*duplicates_allowed=*/false);
  int errors = 0;
  for (const auto& r : dynatrace_->Requests()) errors += r.status >= 400;
  EXPECT_EQ(errors, 6) << "every scripted error was seen and retried";
}

TEST_F(DownstreamFaultsTest, SlowBackendDeliversEverySpanExactlyOnce) {
  dynatrace_->SetDefaultResponse({.delay = absl::Milliseconds(300)});
  const std::vector<std::string> acked = Send(20, 10);
  ASSERT_EQ(acked.size(), 200u);
  ExpectAllArrived(acked, /*duplicates_allowed=*/false);
}

TEST_F(DownstreamFaultsTest, BackendDownAndBackOnTheSamePortLosesNothing) {
  std::vector<std::string> acked = Send(4, 10);
  dynatrace_->GoDown();
  std::vector<std::string> while_down = Send(10, 10);
  acked.insert(acked.end(), while_down.begin(), while_down.end());
  // The port can stay busy briefly while the fake's old connections close
  // (and the exporter keeps reconnecting): retry the bind, bounded.
  absl::Status back = dynatrace_->ComeBack();
  const absl::Time bind_deadline = absl::Now() + absl::Seconds(10);
  for (int i = 0; i < 200 && !back.ok() && absl::Now() < bind_deadline; ++i) {
    dynatrace_->WaitForRequests(INT64_MAX, absl::Now() + absl::Milliseconds(50));  // a bounded pause
    back = dynatrace_->ComeBack();
  }
  ASSERT_TRUE(back.ok()) << back;
  std::vector<std::string> after = Send(4, 10);
  acked.insert(acked.end(), after.begin(), after.end());
  EXPECT_EQ(acked.size(), 180u);
  // A request in flight when the fake went down may have been recorded
  // without the exporter hearing the answer: at least once.
  ExpectAllArrived(acked, /*duplicates_allowed=*/true);
}

TEST_F(DownstreamFaultsTest, ConnectionsClosedMidRequestAreRetriedAtLeastOnce) {
  dynatrace_->SetScript({{.close_without_response = true},
                         {.close_without_response = true},
                         {.status = 200, .delay = absl::Milliseconds(100)},
                         {.close_without_response = true}});
  const std::vector<std::string> acked = Send(12, 10);
  ASSERT_EQ(acked.size(), 120u);
  // The fake read those requests and then closed: the exporter retries
  // them, so spans in them may arrive twice (recorded, not answered). Only
  // 2xx-answered requests count as delivered at the fake, so here none is.
  ExpectAllArrived(acked, /*duplicates_allowed=*/false);
}

TEST_F(DownstreamFaultsTest, Http500IsARejectionCountedNotRetried) {
  // OTLP/HTTP: only 429, 502, 503 and 504 are retryable; a 500 is final.
  dynatrace_->SetScript({{.status = 500}});
  const std::vector<std::string> acked = Send(1, 5);
  ASSERT_EQ(acked.size(), 5u);
  EXPECT_EQ(WaitForRejectedExports(), 1);
}

// A 400 for everything: halves isolate down to single spans, each refused
// and counted, in a bounded number of requests; nothing is retried forever
// and later requests flow.
TEST_F(DownstreamFaultsTest, PermanentRejectionIsCountedNotRetriedForever) {
  dynatrace_->SetDefaultResponse({.status = 400, .body = "bad"});
  const std::vector<std::string> acked = Send(1, 5);
  ASSERT_EQ(acked.size(), 5u);
  EXPECT_GE(WaitForRejectedExports(), 1);
  auto rejected_items = [&] {
    return app_->metrics().CounterValue("gateway_export_rejected_items_total",
                                        {{"signal", "traces"}, {"reason", "http_400"}});
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (rejected_items() < 5 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(rejected_items(), 5);
  // A binary split of 5 spans into single ones: at most 2 * 5 - 1 requests.
  EXPECT_LE(dynatrace_->RequestCount(), 9);
  dynatrace_->SetDefaultResponse({});
  const std::vector<std::string> later = Send(2, 5);
  ExpectAllArrived(later, /*duplicates_allowed=*/false);
}

// One client's invalid span shares a batch with another client's good ones:
// the target refuses the whole request (400); only the invalid span is lost.
TEST_F(DownstreamFaultsTest, OneRefusedSpanCostsOnlyItself) {
  dynatrace_->RejectSpansNamed("poison");
  std::vector<std::string> good = Send(3, 8);
  ExportTraceServiceRequest bad = spans_.Request(4);
  bad.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(2)->set_name("poison");
  ASSERT_TRUE(HttpPost(app_->http_port(), "/v1/traces", "application/x-protobuf", bad.SerializeAsString()).status ==
              200);
  for (int i = 0; i < 4; ++i) {
    if (i != 2) good.push_back(bad.resource_spans(0).scope_spans(0).spans(i).span_id());
  }
  sent_ += static_cast<int64_t>(good.size());
  ExpectAllArrived(good, /*duplicates_allowed=*/false);
  EXPECT_EQ(WaitForRejectedExports(), 1);
  EXPECT_EQ(app_->metrics().CounterValue("gateway_export_rejected_items_total",
                                         {{"signal", "traces"}, {"reason", "http_400"}}),
            1);
}

}  // namespace
}  // namespace gateway::reliability
