// The gateway under more load than it can export: a small memory limit and a
// Dynatrace that answers slowly. Clients must be pushed back (gRPC
// UNAVAILABLE, HTTP 503 + Retry-After) instead of the gateway buffering
// without bound; the bytes in flight stay under the limit plus at most one
// request per concurrent client; every acknowledged span arrives exactly once;
// and once the backend is fast again the gateway drains and accepts again.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/gateway_app.h"
#include "pipeline/otlp/gzip.h"
#include "pipeline/base/sync.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

constexpr int64_t kLimitMib = 1;
constexpr int kGrpcClients = 2;
constexpr int kHttpClients = 2;
constexpr int kSpansPerRequest = 100;
// How long the clients push while the backend is slow.
constexpr absl::Duration kLoadPhase = absl::Seconds(3);

// What one client saw.
struct ClientTally {
  std::vector<std::string> acked;    // span ids of acknowledged requests
  std::vector<std::string> refused;  // span ids of requests refused as overloaded
  int64_t accepted_requests = 0;
  int64_t overloaded = 0;
  int64_t overloaded_without_retry_after = 0;
  int64_t other_failures = 0;
  size_t max_request_bytes = 0;
};

class OverloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    StartApp(/*admission_wait=*/GatewayConfig{}.queue.admission_wait);
  }

  void StartApp(absl::Duration admission_wait) {
    if (app_) app_->Shutdown();
    GatewayConfig config = ReliabilityConfig(*dynatrace_);
    config.queue.admission_wait = admission_wait;
    config.queue.memory_limit_mib = kLimitMib;
    // Slow answers, not timeouts: a timed-out export would be retried and
    // could arrive twice.
    config.exporter.timeout = absl::Seconds(30);
    config.exporter.max_in_flight = 2;
    config.batch.max_spans = 500;
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
  }

  void TearDown() override {
    if (app_) app_->Shutdown();
  }

  double InFlightBytes() {
    return MetricValue(app_->metrics().RenderPrometheus(), "gateway_memory_in_flight_bytes");
  }

  // Polls gateway_memory_in_flight_bytes until `until` holds of it or
  // `timeout` has passed; returns the last value read.
  double WaitForInFlight(const std::function<bool(double)>& until, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    double bytes = InFlightBytes();
    while (!until(bytes) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      bytes = InFlightBytes();
    }
    return bytes;
  }


  // One request from `factory` over gRPC or HTTP; the outcome goes to `tally`.
  void SendOne(bool grpc, SpanFactory& factory, ClientTally& tally) {
    ExportTraceServiceRequest request = factory.Request(kSpansPerRequest);
    const std::string body = request.SerializeAsString();
    tally.max_request_bytes = std::max(tally.max_request_bytes, body.size());
    bool accepted = false;
    bool overloaded = false;
    bool retry_after = false;
    if (grpc) {
      const grpc::Status status = GrpcExportRaw(app_->grpc_port(), kTraceExport, body);
      accepted = status.ok();
      overloaded = status.error_code() == grpc::StatusCode::UNAVAILABLE;
      retry_after = overloaded;  // gRPC clients back off on UNAVAILABLE by themselves
    } else {
      const RawHttpResponse response = HttpPost(app_->http_port(), "/v1/traces", "application/x-protobuf", body);
      accepted = response.status == 200;
      overloaded = response.status == 503;
      int64_t seconds = 0;
      retry_after = absl::SimpleAtoi(response.Header("retry-after"), &seconds) && seconds >= 1;
    }
    std::vector<std::string>* ids = nullptr;
    if (accepted) {
      ++tally.accepted_requests;
      ids = &tally.acked;
    } else if (overloaded) {
      ++tally.overloaded;
      if (!retry_after) ++tally.overloaded_without_retry_after;
      ids = &tally.refused;
    } else {
      ++tally.other_failures;
    }
    if (ids != nullptr) {
      for (const auto& span : request.resource_spans(0).scope_spans(0).spans()) ids->push_back(span.span_id());
    }
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::unique_ptr<GatewayApp> app_;
};

TEST_F(OverloadTest, PushesBackWithinTheMemoryBoundLosesNothingAndRecovers) {
  // Every export takes 1.5 s, two at a time: far below what four clients send.
  dynatrace_->SetDefaultResponse({.delay = absl::Milliseconds(1500)});

  constexpr int kClients = kGrpcClients + kHttpClients;
  std::vector<ClientTally> tallies(kClients);
  Notification stop;
  std::atomic<double> max_in_flight{0};
  std::vector<std::thread> threads;
  threads.reserve(kClients + 1);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      // Disjoint id ranges per client.
      SpanFactory factory(static_cast<uint64_t>(c + 1) << 40);
      const bool grpc = c < kGrpcClients;
      for (int i = 0; i < 20000 && !stop.HasBeenNotified(); ++i) {
        const int64_t before = tallies[c].overloaded;
        SendOne(grpc, factory, tallies[c]);
        // A refused client waits a little (a real one honours Retry-After;
        // shorter here so the test keeps pressing).
        if (tallies[c].overloaded != before) stop.WaitForNotificationWithTimeout(absl::Milliseconds(20));
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.WaitForNotificationWithTimeout(absl::Milliseconds(5))) {
      const double v = InFlightBytes();
      if (v > max_in_flight.load()) max_in_flight.store(v);
    }
  });
  stop.WaitForNotificationWithTimeout(kLoadPhase);
  stop.Notify();
  for (auto& t : threads) t.join();

  ClientTally total;
  for (const ClientTally& t : tallies) {
    total.acked.insert(total.acked.end(), t.acked.begin(), t.acked.end());
    total.refused.insert(total.refused.end(), t.refused.begin(), t.refused.end());
    total.accepted_requests += t.accepted_requests;
    total.overloaded += t.overloaded;
    total.overloaded_without_retry_after += t.overloaded_without_retry_after;
    total.other_failures += t.other_failures;
    total.max_request_bytes = std::max(total.max_request_bytes, t.max_request_bytes);
  }
  int64_t grpc_overloaded = 0;
  int64_t http_overloaded = 0;
  for (int c = 0; c < kClients; ++c) (c < kGrpcClients ? grpc_overloaded : http_overloaded) += tallies[c].overloaded;

  const double limit = static_cast<double>(kLimitMib << 20);
  const double bound = limit + static_cast<double>(kClients * total.max_request_bytes);
  std::cout << "overload: accepted_requests=" << total.accepted_requests << " overloaded=" << total.overloaded
            << " (grpc " << grpc_overloaded << ", http " << http_overloaded << ") other_failures="
            << total.other_failures << " max_in_flight_bytes=" << max_in_flight.load() << " limit=" << limit
            << " bound=" << bound << "\n";
  RecordProperty("accepted_requests", static_cast<int>(total.accepted_requests));
  RecordProperty("overloaded_requests", static_cast<int>(total.overloaded));
  RecordProperty("max_in_flight_bytes", static_cast<int>(max_in_flight.load()));

  EXPECT_GT(total.accepted_requests, 0);
  EXPECT_GT(grpc_overloaded, 0) << "gRPC clients were never told UNAVAILABLE";
  EXPECT_GT(http_overloaded, 0) << "HTTP clients were never answered 503";
  EXPECT_EQ(total.overloaded_without_retry_after, 0) << "503 without a Retry-After of at least 1 s";
  EXPECT_EQ(total.other_failures, 0) << "overload must show as UNAVAILABLE / 503 only";
  EXPECT_GT(max_in_flight.load(), 0.5 * limit) << "the load never came near the limit";
  EXPECT_LE(max_in_flight.load(), bound) << "bytes in flight above the limit plus one request per client";

  // Load falls and the backend is fast again: the gateway drains.
  dynatrace_->SetDefaultResponse({});
  const absl::Time drain_deadline = absl::Now() + absl::Seconds(30);
  double in_flight = InFlightBytes();
  for (int i = 0; i < 3000 && in_flight > 0 && absl::Now() < drain_deadline; ++i) {
    dynatrace_->WaitForRequests(dynatrace_->RequestCount() + 1, absl::Now() + absl::Milliseconds(50));
    in_flight = InFlightBytes();
  }
  EXPECT_EQ(in_flight, 0) << "bytes still in flight after the backend recovered";

  // And accepts again, on both protocols, at the first attempt.
  SpanFactory after(uint64_t{9} << 40);
  ClientTally recovery;
  SendOne(/*grpc=*/true, after, recovery);
  SendOne(/*grpc=*/false, after, recovery);
  EXPECT_EQ(recovery.accepted_requests, 2) << "not accepting again after the overload ended";
  total.acked.insert(total.acked.end(), recovery.acked.begin(), recovery.acked.end());

  // Every acknowledged span exactly once; nothing refused was delivered.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  ASSERT_TRUE(dynatrace_->WaitForSpans(static_cast<int64_t>(total.acked.size()), deadline))
      << "only " << dynatrace_->SpanCount() << " of " << total.acked.size() << " acknowledged spans arrived";
  const std::map<std::string, int> counts = SpanIdCounts(*dynatrace_);
  int64_t missing = 0;
  int64_t duplicated = 0;
  for (const std::string& id : total.acked) {
    auto it = counts.find(id);
    if (it == counts.end()) {
      ++missing;
    } else if (it->second > 1) {
      ++duplicated;
    }
  }
  int64_t refused_delivered = 0;
  for (const std::string& id : total.refused) refused_delivered += counts.count(id);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(refused_delivered, 0) << "spans of refused requests were exported";
  EXPECT_EQ(static_cast<int64_t>(counts.size()), static_cast<int64_t>(total.acked.size()));
}

TEST_F(OverloadTest, RequestsArrivingWhileTheBudgetIsFullWaitForRoomAndAreAccepted) {
  // Far longer than the export takes, so that the wait ends with room, not
  // with its time up, however slow the machine.
  StartApp(absl::Seconds(20));
  dynatrace_->SetDefaultResponse({.delay = absl::Seconds(1)});
  SpanFactory factory(uint64_t{5} << 40);
  std::vector<std::string> ids;
  // The first request is admitted whatever its size: this one (~1.2 MiB in
  // 1000 spans, two export batches sent together) fills the 1 MiB budget
  // until its exports, a second later, are answered.
  ExportTraceServiceRequest fill = factory.Request(1000);
  for (auto& span : *fill.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans()) {
    span.set_name(std::string(1200, 'n'));
    ids.push_back(span.span_id());
  }
  // Over gRPC: an HTTP body that grows past the budget is refused as it arrives.
  ASSERT_TRUE(GrpcExportRaw(app_->grpc_port(), kTraceExport, fill.SerializeAsString()).ok());
  ASSERT_GE(InFlightBytes(), static_cast<double>(kLimitMib << 20));

  // One request per protocol while the budget is full: each waits, and is
  // accepted once the export frees the budget, instead of being refused.
  ClientTally tally;
  ClientTally http_tally;
  std::thread grpc_client([&] { SendOne(/*grpc=*/true, factory, tally); });
  SpanFactory http_factory(uint64_t{6} << 40);
  SendOne(/*grpc=*/false, http_factory, http_tally);
  grpc_client.join();
  EXPECT_EQ(tally.accepted_requests, 1);
  EXPECT_EQ(http_tally.accepted_requests, 1);
  EXPECT_EQ(tally.overloaded + http_tally.overloaded, 0);
  const MetricsRegistry& metrics = app_->metrics();
  EXPECT_EQ(metrics.CounterValue("gateway_admission_waits_total", {{"transport", "grpc"}, {"outcome", "admitted"}}),
            1);
  EXPECT_EQ(metrics.CounterValue("gateway_admission_waits_total", {{"transport", "http"}, {"outcome", "admitted"}}),
            1);

  ids.insert(ids.end(), tally.acked.begin(), tally.acked.end());
  ids.insert(ids.end(), http_tally.acked.begin(), http_tally.acked.end());
  const std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, ids, absl::Seconds(30));
  for (const std::string& id : ids) EXPECT_EQ(counts.count(id) ? counts.at(id) : 0, 1);
}

TEST_F(OverloadTest, ACompressedRequestWaitsForRoomForWhatItDecompressesTo) {
  StartApp(absl::Seconds(20));
  SpanFactory factory(uint64_t{7} << 40);
  std::mt19937_64 rng(3);
  std::vector<std::string> ids;
  // Spans named with random hex digits, which gzip packs about 2:1.
  auto request = [&](int spans, size_t name_bytes) {
    ExportTraceServiceRequest r = factory.Request(spans);
    for (auto& span : *r.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans()) {
      std::string name(name_bytes, '0');
      for (char& c : name) c = "0123456789abcdef"[rng() % 16];
      span.set_name(name);
      ids.push_back(span.span_id());
    }
    return r;
  };
  auto post_gzip = [&](const ExportTraceServiceRequest& r) {
    const std::string body = GzipCompress(r.SerializeAsString(), 6);
    return HttpPost(app_->http_port(), "/v1/traces", "application/x-protobuf", body, "Content-Encoding: gzip\r\n",
                    absl::Seconds(30));
  };
  // The gateway learns how much such bodies grow.
  for (int i = 0; i < 8; ++i) ASSERT_EQ(post_gzip(request(20, 1000)).status, 200);
  const std::vector<std::string> learned = ids;
  WaitForSpanIds(*dynatrace_, learned, absl::Seconds(30));
  ASSERT_EQ(WaitForInFlight([](double bytes) { return bytes == 0; }, absl::Seconds(10)), 0);

  // About half the 1 MiB budget held by exports Dynatrace answers slowly.
  dynatrace_->SetDefaultResponse({.delay = absl::Seconds(5)});
  ASSERT_TRUE(GrpcExportRaw(app_->grpc_port(), kTraceExport, request(250, 2000).SerializeAsString()).ok());
  // Until the spans sit in export bodies (a batch goes out after 200 ms).
  double held = InFlightBytes();
  const absl::Time steady_by = absl::Now() + absl::Seconds(3);
  for (int steady = 0; steady < 15 && absl::Now() < steady_by;) {
    absl::SleepFor(absl::Milliseconds(20));
    const double now = InFlightBytes();
    steady = now == held ? steady + 1 : 0;
    held = now;
  }
  const double free = static_cast<double>(kLimitMib << 20) - held;
  ASSERT_GT(free, 200'000) << "held " << held;

  // Compressed, it fits in what is free; decompressed (1.5x that), it does
  // not. It waits for the slow exports instead of being refused at Accept.
  const ExportTraceServiceRequest big = request(static_cast<int>(free * 1.5 / 1000), 1000);
  ASSERT_LT(GzipCompress(big.SerializeAsString(), 6).size(), static_cast<size_t>(free));
  ASSERT_GT(big.ByteSizeLong(), static_cast<size_t>(free));
  EXPECT_EQ(post_gzip(big).status, 200);
  EXPECT_EQ(
      app_->metrics().CounterValue("gateway_admission_waits_total", {{"transport", "http"}, {"outcome", "admitted"}}),
      1);

  const std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, ids, absl::Seconds(30));
  for (const std::string& id : ids) EXPECT_EQ(counts.count(id) ? counts.at(id) : 0, 1);
}

TEST_F(OverloadTest, ABodyThatOutgrowsTheRoomAsItArrivesPausesAndIsAccepted) {
  StartApp(absl::Seconds(20));
  SpanFactory factory(uint64_t{8} << 40);
  std::vector<std::string> ids;
  auto request = [&](int spans) {
    ExportTraceServiceRequest r = factory.Request(spans);
    for (auto& span : *r.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans()) {
      span.set_name(std::string(1000, 'b'));
      ids.push_back(span.span_id());
    }
    return r;
  };
  auto chunk = [](std::string_view bytes) {
    return absl::StrCat(absl::Hex(bytes.size()), "\r\n", std::string(bytes), "\r\n");
  };
  // A chunked body (no Content-Length, so nothing to wait for at the
  // headers) begins while the budget is empty...
  const std::string body = request(600).SerializeAsString();
  RawHttpClient client(app_->http_port());
  ASSERT_TRUE(client.Send(absl::StrCat("POST /v1/traces HTTP/1.1\r\nHost: gateway\r\n",
                                       "Content-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n",
                                       chunk(std::string_view(body).substr(0, 8192)))));
  ASSERT_GT(WaitForInFlight([](double bytes) { return bytes > 0; }, absl::Seconds(10)), 0);
  // ...then 700 KB of the 1 MiB go to exports Dynatrace answers in 2 s...
  dynatrace_->SetDefaultResponse({.delay = absl::Seconds(2)});
  ASSERT_TRUE(GrpcExportRaw(app_->grpc_port(), kTraceExport, request(700).SerializeAsString()).ok());
  // ...and the rest of the body (600 KB) no longer fits: reading pauses
  // until the exports free the budget, instead of a 503 part way.
  for (size_t at = 8192; at < body.size(); at += 65536) {
    ASSERT_TRUE(client.Send(chunk(std::string_view(body).substr(at, 65536))));
  }
  ASSERT_TRUE(client.Send("0\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse(absl::Seconds(30)).status, 200);
  EXPECT_GE(
      app_->metrics().CounterValue("gateway_admission_waits_total", {{"transport", "http"}, {"outcome", "admitted"}}),
      1);

  const std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, ids, absl::Seconds(30));
  for (const std::string& id : ids) EXPECT_EQ(counts.count(id) ? counts.at(id) : 0, 1);
}

}  // namespace
}  // namespace gateway::reliability
