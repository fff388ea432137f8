#include "pipeline/export/otlp_http_exporter.h"

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/sync.h"
#include "pipeline/otlp/gzip.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/fakes/fake_http_transport.h"

namespace gateway {
namespace {

using testing::FakeClock;
using testing::FakeDynatrace;
using testing::FakeHttpTransport;
namespace coltrace = opentelemetry::proto::collector::trace::v1;

constexpr char kToken[] = "dt0c01.SECRETTOKENVALUE";

// Log lines captured from pipeline/base/logging.h.
Mutex g_log_mu;
std::vector<std::string>* g_log_lines = new std::vector<std::string>();
void CaptureLog(std::string_view line) {
  MutexLock lock(&g_log_mu);
  g_log_lines->emplace_back(line);
}
std::string AllLogs() {
  MutexLock lock(&g_log_mu);
  std::string all;
  for (const std::string& line : *g_log_lines) all += line;
  return all;
}

// `n` spans with span ids first_id.. under one resource; each span carries a
// `pad`-byte attribute to control the size.
std::string TraceRequest(int n, int first_id = 1, size_t pad = 50) {
  coltrace::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("checkout");
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < n; ++i) {
    auto* span = ss->add_spans();
    span->set_trace_id(std::string(16, '\x01'));
    const uint64_t id = static_cast<uint64_t>(first_id + i);
    span->set_span_id(std::string(reinterpret_cast<const char*>(&id), 8));
    span->set_name("process");
    auto* a = span->add_attributes();
    a->set_key("pad");
    a->mutable_value()->set_string_value(std::string(pad, 'x'));
  }
  return request.SerializeAsString();
}

// TraceRequest(n) with span `poison_index` (0-based) named "poison".
std::string TraceRequestWithPoison(int n, int poison_index) {
  coltrace::ExportTraceServiceRequest request;
  EXPECT_TRUE(request.ParseFromString(TraceRequest(n)));
  request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(poison_index)->set_name("poison");
  return request.SerializeAsString();
}

int CountOccurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Collects on_done results.
class Results {
 public:
  absl::AnyInvocable<void(ExportResult)> Callback() {
    return [this](ExportResult r) {
      MutexLock lock(&mu_);
      results_.push_back(r);
    };
  }
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(20)) {
    MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return results_.size() >= n; };
    return mu_.AwaitWithTimeout(enough, timeout);
  }
  std::vector<ExportResult> Get() {
    MutexLock lock(&mu_);
    return results_;
  }

 private:
  Mutex mu_;
  std::vector<ExportResult> results_ ABSL_GUARDED_BY(mu_);
};

// Polls `pred` until true or `timeout` (real time) passes.
template <typename Pred>
bool WaitUntil(Pred pred, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return pred();
}

// The clock, registry and exporter of both fixtures below, and the helpers
// that feed and read them.
class ExporterTestBase : public ::testing::Test {
 protected:
  void ExportTraces(std::string body, int64_t items, Results& results,
                    absl::Time oldest = absl::InfinitePast()) {
    ExportRequest request;
    request.signal = Signal::kTraces;
    request.body = std::move(body);
    request.items = items;
    request.oldest_item_time = oldest;
    request.on_done = results.Callback();
    exporter_->Export(std::move(request));
  }

  int64_t Count(const std::string& name, const MetricLabels& labels) { return registry_.CounterValue(name, labels); }
  int64_t Failures(const std::string& reason) {
    return Count("gateway_export_failures_total", {{"signal", "traces"}, {"reason", reason}});
  }

  FakeClock clock_;
  MetricsRegistry registry_;
  OtlpHttpExporterOptions options_;
  std::unique_ptr<Exporter> exporter_;
};

// The exporter over libcurl against a fake Dynatrace on a local port.
class OtlpHttpExporterTest : public ExporterTestBase {
 protected:
  void SetUp() override {
    SetLogSink(&CaptureLog);
    FakeDynatrace::Options options;
    options.token = kToken;
    auto dt = FakeDynatrace::Start(options);
    ASSERT_TRUE(dt.ok()) << dt.status();
    dt_ = *std::move(dt);
    options_ = ForDynatrace(dt_->url(), kToken);
    options_.connect_timeout = absl::Seconds(2);
    options_.request_timeout = absl::Seconds(10);
  }
  void TearDown() override {
    exporter_.reset();
    dt_.reset();
    SetLogSink(nullptr);
  }

  void StartExporter() { exporter_ = NewOtlpHttpExporter(options_, registry_, clock_); }

  std::unique_ptr<FakeDynatrace> dt_;
};

TEST(OtlpHttpExporterOptionsTest, BuildsDynatraceUrlsAndAuthHeader) {
  OtlpHttpExporterOptions options = ForDynatrace("https://abc.live.dynatrace.com/api/v2/otlp/", "tok");
  EXPECT_EQ(ExportUrl(options, Signal::kTraces), "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces");
  EXPECT_EQ(ExportUrl(options, Signal::kMetrics), "https://abc.live.dynatrace.com/api/v2/otlp/v1/metrics");
  options.signal_endpoint[static_cast<int>(Signal::kLogs)] = "http://other/logs";
  EXPECT_EQ(ExportUrl(options, Signal::kLogs), "http://other/logs");
  ASSERT_EQ(options.headers.size(), 1u);
  EXPECT_EQ(options.headers[0].first, "Authorization");
  EXPECT_EQ(options.headers[0].second, "Api-Token tok");
  EXPECT_TRUE(options.gzip);
}

TEST_F(OtlpHttpExporterTest, DeliversGzippedProtobufWithApiToken) {
  StartExporter();
  Results results;
  const std::string body = TraceRequest(10);
  ExportTraces(body, 10, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(results.Get()[0].rejected_items, 0);
  std::vector<FakeDynatrace::ReceivedRequest> requests = dt_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/api/v2/otlp/v1/traces");
  EXPECT_EQ(requests[0].headers["authorization"], absl::StrCat("Api-Token ", kToken));
  EXPECT_EQ(requests[0].headers["content-type"], "application/x-protobuf");
  EXPECT_EQ(requests[0].headers["content-encoding"], "gzip");
  EXPECT_LT(requests[0].wire_bytes, body.size());
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(dt_->SpanCount(), 10);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 10);
  EXPECT_EQ(Count("gateway_export_requests_total", {{"signal", "traces"}, {"outcome", "delivered"}}), 1);
  EXPECT_TRUE(WaitUntil([&] { return exporter_->QueuedBytes() == 0; }));
  EXPECT_TRUE(exporter_->Healthy());
}

TEST_F(OtlpHttpExporterTest, SendsIdentityBodiesWhenGzipIsOff) {
  options_.gzip = false;
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(3), 3, results);
  ASSERT_TRUE(results.WaitFor(1));
  std::vector<FakeDynatrace::ReceivedRequest> requests = dt_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.count("content-encoding"), 0u);
  EXPECT_EQ(requests[0].status, 200);
}

// A refused token (revoked, or being rotated) costs no data: the request is
// retried under the age bound, readiness says why, and one line is logged.
TEST_F(OtlpHttpExporterTest, WrongTokenIsRetriedAndMakesTheExporterUnhealthy) {
  dt_->PushResponse({.status = 401});
  dt_->PushResponse({.status = 403});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(4), 4, results);
  // Backoffs are 1 s then 2 s, +-50% jitter.
  ASSERT_TRUE(WaitUntil([&] { return Failures("http_401") == 1; }));
  EXPECT_FALSE(exporter_->Healthy());
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(WaitUntil([&] { return Failures("http_403") == 1; }));
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(dt_->RequestCount(), 3);
  EXPECT_EQ(Failures("http_401"), 1);
  EXPECT_EQ(Failures("http_403"), 1);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 4);
  EXPECT_TRUE(exporter_->Healthy());
  const std::string logs = AllLogs();
  EXPECT_EQ(CountOccurrences(logs, "export_auth_refused"), 1) << logs;
  EXPECT_TRUE(absl::StrContains(logs, "export_auth_accepted_again")) << logs;
}

TEST_F(OtlpHttpExporterTest, RefusedTokenMakesTheExporterUnhealthyAtOnce) {
  for (int i = 0; i < 50; ++i) dt_->PushResponse({.status = 401});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(2), 2, results);
  ASSERT_TRUE(WaitUntil([&] { return !exporter_->Healthy(); }));
  EXPECT_TRUE(absl::StrContains(exporter_->HealthDetail(), "401"));
  EXPECT_EQ(results.Get().size(), 0u);  // kept, not given up
  ASSERT_TRUE(exporter_->Shutdown(clock_.Now()).ok());
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kGivenUp);  // only at shutdown
}

TEST_F(OtlpHttpExporterTest, SplitsRequestsOverTheSignalLimit) {
  options_.max_request_bytes[static_cast<int>(Signal::kTraces)] = 2000;
  StartExporter();
  Results results;
  const std::string body = TraceRequest(100);
  ASSERT_GT(body.size(), 6000u);
  ExportTraces(body, 100, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  std::vector<FakeDynatrace::ReceivedRequest> requests = dt_->Requests();
  EXPECT_GE(requests.size(), 4u);
  for (const auto& r : requests) EXPECT_LE(r.body.size(), 2000u);
  EXPECT_EQ(dt_->SpanCount(), 100);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 100);
}

TEST_F(OtlpHttpExporterTest, RetriesAfter429HonouringRetryAfterSeconds) {
  dt_->PushResponse({.status = 429, .retry_after = "7"});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  ASSERT_TRUE(WaitUntil([&] { return Failures("http_429") == 1; }));
  clock_.Advance(absl::Seconds(6));
  EXPECT_FALSE(dt_->WaitForRequests(2, absl::Now() + absl::Milliseconds(200)));
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(dt_->RequestCount(), 2);
  EXPECT_EQ(dt_->SpanCount(), 5);
  EXPECT_EQ(Count("gateway_export_retries_total", {{"signal", "traces"}}), 1);
}

TEST_F(OtlpHttpExporterTest, RetriesAfter503HonouringRetryAfterDate) {
  const std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", clock_.Now() + absl::Seconds(20), absl::UTCTimeZone());
  dt_->PushResponse({.status = 503, .retry_after = date});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  ASSERT_TRUE(WaitUntil([&] { return Failures("http_5xx") == 1; }));
  clock_.Advance(absl::Seconds(18));
  EXPECT_FALSE(dt_->WaitForRequests(2, absl::Now() + absl::Milliseconds(200)));
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
}

TEST_F(OtlpHttpExporterTest, BacksOffExponentiallyOnServerErrors) {
  dt_->SetScript({{.status = 503}, {.status = 502}, {.status = 504}});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  // Backoffs are 1 s, 2 s, 4 s with +-50% jitter; advancing 6.5 s per failure
  // always reaches the next attempt.
  for (int failures = 1; failures <= 3; ++failures) {
    ASSERT_TRUE(WaitUntil([&] { return Failures("http_5xx") == failures; })) << failures;
    clock_.Advance(absl::Milliseconds(6500));
  }
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(dt_->RequestCount(), 4);
  EXPECT_EQ(Count("gateway_export_retries_total", {{"signal", "traces"}}), 3);
}

TEST_F(OtlpHttpExporterTest, A400OnASingleItemIsRejectedAndLoggedWithoutTheToken) {
  dt_->PushResponse({.status = 400, .body = absl::StrCat("invalid span in request from Api-Token ", kToken)});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(1), 1, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kRejected);
  EXPECT_EQ(dt_->RequestCount(), 1);
  EXPECT_EQ(Failures("http_400"), 1);
  EXPECT_EQ(Count("gateway_export_rejected_items_total", {{"signal", "traces"}, {"reason", "http_400"}}), 1);
  const std::string logs = AllLogs();
  EXPECT_TRUE(absl::StrContains(logs, "export_rejected")) << logs;
  EXPECT_TRUE(absl::StrContains(logs, "invalid span in request")) << logs;
  EXPECT_FALSE(absl::StrContains(logs, "SECRETTOKENVALUE")) << logs;
}

// One refused span among 16 costs that span only: halves isolate it.
TEST_F(OtlpHttpExporterTest, A400IsSplitUntilOnlyTheRefusedItemIsDropped) {
  dt_->RejectSpansNamed("poison");
  StartExporter();
  Results results;
  ExportTraces(TraceRequestWithPoison(16, /*poison_index=*/11), 16, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kRejected);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 15);
  EXPECT_EQ(Count("gateway_export_rejected_items_total", {{"signal", "traces"}, {"reason", "http_400"}}), 1);
  // Halves are cut by bytes, so a level may leave 9 and 7 spans: at most 5
  // levels of two requests each for 16 spans, plus the first.
  EXPECT_LE(dt_->RequestCount(), 1 + 2 * 5);
}

TEST_F(OtlpHttpExporterTest, SplitsInHalvesOn413) {
  const std::string body = TraceRequest(40);
  dt_->SetMaxBodyBytes(body.size() * 6 / 10);
  StartExporter();
  Results results;
  ExportTraces(body, 40, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(Failures("http_413"), 1);
  EXPECT_GE(dt_->RequestCount(), 3);
  EXPECT_EQ(dt_->SpanCount(), 40);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 40);
}

TEST_F(OtlpHttpExporterTest, CountsPartialSuccess) {
  dt_->PushResponse({.status = 200, .partial_success_rejected = 3, .partial_success_message = "spans too old"});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(10), 10, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(results.Get()[0].rejected_items, 3);
  EXPECT_EQ(Count("gateway_export_rejected_items_total", {{"signal", "traces"}, {"reason", "partial_success"}}), 3);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 7);
  EXPECT_TRUE(absl::StrContains(AllLogs(), "spans too old"));
}

TEST_F(OtlpHttpExporterTest, GivesUpBeforeItemsExceedMaxAge) {
  dt_->SetDefaultResponse({.status = 503});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(6), 6, results, clock_.Now() - absl::Minutes(55) + absl::Milliseconds(100));
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kGivenUp);
  EXPECT_EQ(dt_->RequestCount(), 1);
  EXPECT_EQ(Count("gateway_export_given_up_items_total", {{"signal", "traces"}, {"reason", "max_age"}}), 6);
}

TEST_F(OtlpHttpExporterTest, OutageUnderSteadyLoadDeliversEverySpanExactlyOnce) {
  StartExporter();
  Results results;
  dt_->GoDown();
  constexpr int kRequests = 20;
  constexpr int kSpansPerRequest = 5;
  for (int i = 0; i < kRequests; ++i) {
    ExportTraces(TraceRequest(kSpansPerRequest, 1 + i * kSpansPerRequest), kSpansPerRequest, results);
    clock_.Advance(absl::Seconds(4));
  }
  ASSERT_TRUE(WaitUntil([&] { return Failures("network") >= kRequests; }));
  clock_.Advance(absl::Seconds(61));
  EXPECT_FALSE(exporter_->Healthy());
  EXPECT_GT(exporter_->QueuedBytes(), 0);
  ASSERT_TRUE(dt_->ComeBack().ok());
  // Retries are at most 30 s (+50% jitter) apart.
  for (int i = 0; i < 200 && !results.WaitFor(kRequests, absl::Milliseconds(50)); ++i) {
    clock_.Advance(absl::Seconds(5));
  }
  ASSERT_TRUE(results.WaitFor(kRequests));
  for (const ExportResult& r : results.Get()) EXPECT_EQ(r.outcome, ExportOutcome::kDelivered);
  std::multiset<std::string> span_ids;
  for (const auto& rs : dt_->ReceivedSpans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) span_ids.insert(span.span_id());
    }
  }
  EXPECT_EQ(span_ids.size(), static_cast<size_t>(kRequests * kSpansPerRequest));
  EXPECT_EQ(std::set<std::string>(span_ids.begin(), span_ids.end()).size(), span_ids.size());
  EXPECT_TRUE(exporter_->Healthy());
  EXPECT_EQ(exporter_->QueuedBytes(), 0);
}

TEST_F(OtlpHttpExporterTest, RetriesAConnectionClosedMidRequest) {
  dt_->PushResponse({.close_without_response = true});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  ASSERT_TRUE(WaitUntil([&] { return Failures("network") == 1; }));
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(dt_->SpanCount(), 5);
}

TEST_F(OtlpHttpExporterTest, ShutdownDeliversWhatIsQueued) {
  StartExporter();
  Results results;
  for (int i = 0; i < 8; ++i) ExportTraces(TraceRequest(5, 1 + 5 * i), 5, results);
  ASSERT_TRUE(exporter_->Shutdown(clock_.Now() + absl::Seconds(10)).ok());
  ASSERT_TRUE(results.WaitFor(8, absl::ZeroDuration()));
  for (const ExportResult& r : results.Get()) EXPECT_EQ(r.outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(dt_->SpanCount(), 40);
}

TEST_F(OtlpHttpExporterTest, ShutdownGivesUpAtTheDeadlineAndRefusesLaterRequests) {
  dt_->SetDefaultResponse({.status = 503, .retry_after = "5"});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  ASSERT_TRUE(WaitUntil([&] { return Failures("http_5xx") == 1; }));
  std::thread shutdown([&] { EXPECT_TRUE(exporter_->Shutdown(clock_.Now() + absl::Seconds(20)).ok()); });
  // Retries at +5 s and +10 s fail too; the one that would land after the
  // deadline is given up.
  for (int i = 0; i < 100 && !results.WaitFor(1, absl::Milliseconds(20)); ++i) clock_.Advance(absl::Seconds(1));
  shutdown.join();
  ASSERT_TRUE(results.WaitFor(1, absl::ZeroDuration()));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kGivenUp);
  EXPECT_EQ(Count("gateway_export_given_up_items_total", {{"signal", "traces"}, {"reason", "shutdown"}}), 5);
  ExportTraces(TraceRequest(1), 1, results);
  ASSERT_TRUE(results.WaitFor(2, absl::ZeroDuration()));
  EXPECT_EQ(results.Get()[1].outcome, ExportOutcome::kGivenUp);
  EXPECT_TRUE(exporter_->Shutdown(clock_.Now()).ok());  // idempotent
}

// The exporter over an in-memory transport: no sockets, every response
// scripted.
class OtlpHttpExporterFakeTransportTest : public ExporterTestBase {
 protected:
  void SetUp() override {
    SetLogSink(&CaptureLog);
    options_ = ForDynatrace("https://abc.live.dynatrace.com/api/v2/otlp", kToken);
  }
  void TearDown() override {
    exporter_.reset();
    SetLogSink(nullptr);
  }

  // `transport_` stays valid until exporter_ is reset.
  void StartExporter() {
    auto transport = std::make_unique<FakeHttpTransport>();
    transport_ = transport.get();
    for (FakeHttpTransport::Response& r : script_) transport_->PushResponse(std::move(r));
    exporter_ = NewOtlpHttpExporter(options_, registry_, clock_, std::move(transport));
  }

  std::vector<FakeHttpTransport::Response> script_;
  FakeHttpTransport* transport_ = nullptr;
};

TEST(OtlpHttpExporterOptionsTest, TransportCarriesContentTypeEncodingAndConfiguredHeaders) {
  OtlpHttpExporterOptions options = ForDynatrace("https://abc.live.dynatrace.com/api/v2/otlp", "tok");
  options.connect_timeout = absl::Seconds(3);
  options.request_timeout = absl::Seconds(9);
  options.max_concurrent_requests = 0;
  HttpTransportOptions transport = ExportTransportOptions(options);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "gzip"}, {"Authorization", "Api-Token tok"}};
  EXPECT_EQ(transport.headers, expected);
  EXPECT_EQ(transport.connect_timeout, absl::Seconds(3));
  EXPECT_EQ(transport.request_timeout, absl::Seconds(9));
  EXPECT_EQ(transport.max_connections, 1);
  options.gzip = false;
  EXPECT_EQ(ExportTransportOptions(options).headers.size(), 2u);
}

TEST_F(OtlpHttpExporterFakeTransportTest, PostsTheGzippedBodyToTheSignalUrl) {
  StartExporter();
  Results results;
  const std::string body = TraceRequest(4);
  ExportTraces(body, 4, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  std::vector<FakeHttpTransport::Request> requests = transport_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces");
  absl::StatusOr<std::string> sent = GzipDecompress(requests[0].body, size_t{1} << 20);
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, body);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 4);
}

TEST_F(OtlpHttpExporterFakeTransportTest, CountsTimeoutsApartFromNetworkErrorsAndRetriesThem) {
  script_.push_back({.error = TransportError::kTimeout, .error_message = "Operation timed out after 10000 ms"});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  ASSERT_TRUE(WaitUntil([&] { return Failures("timeout") == 1; }));
  EXPECT_FALSE(transport_->WaitForRequests(2, absl::Milliseconds(100)));
  clock_.Advance(absl::Seconds(2));  // past the first backoff (1 s +- 50%)
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(Failures("network"), 0);
  EXPECT_EQ(Count("gateway_export_retries_total", {{"signal", "traces"}}), 1);
  EXPECT_TRUE(absl::StrContains(AllLogs(), "Operation timed out after 10000 ms")) << AllLogs();
}

TEST_F(OtlpHttpExporterFakeTransportTest, LogsAPartialSuccessMessageWithoutTheToken) {
  coltrace::ExportTraceServiceResponse response;
  response.mutable_partial_success()->set_rejected_spans(2);
  response.mutable_partial_success()->set_error_message(absl::StrCat("spans refused for Api-Token ", kToken));
  script_.push_back({.status = 200, .body = response.SerializeAsString()});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(6), 6, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kDelivered);
  EXPECT_EQ(results.Get()[0].rejected_items, 2);
  EXPECT_EQ(Count("gateway_exported_items_total", {{"signal", "traces"}}), 4);
  const std::string logs = AllLogs();
  EXPECT_TRUE(absl::StrContains(logs, "spans refused for")) << logs;
  EXPECT_FALSE(absl::StrContains(logs, "SECRETTOKENVALUE")) << logs;
}

TEST_F(OtlpHttpExporterFakeTransportTest, RejectsA413ThatCannotBeSplit) {
  script_.push_back({.status = 413});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(1), 1, results);
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kRejected);
  EXPECT_EQ(transport_->Requests().size(), 1u);
  EXPECT_EQ(Failures("http_413"), 1);
  EXPECT_EQ(Count("gateway_export_rejected_items_total", {{"signal", "traces"}, {"reason", "http_413"}}), 1);
}

TEST_F(OtlpHttpExporterFakeTransportTest, ShutdownAbortsTransfersInFlightAndGivesThemUp) {
  script_.push_back({.hang = true});
  StartExporter();
  Results results;
  ExportTraces(TraceRequest(5), 5, results);
  ASSERT_TRUE(transport_->WaitForRequests(1, absl::Seconds(20)));
  ASSERT_TRUE(exporter_->Shutdown(clock_.Now()).ok());
  ASSERT_TRUE(results.WaitFor(1, absl::ZeroDuration()));
  EXPECT_EQ(results.Get()[0].outcome, ExportOutcome::kGivenUp);
  EXPECT_EQ(transport_->Aborted(), 1);
  EXPECT_EQ(Count("gateway_export_given_up_items_total", {{"signal", "traces"}, {"reason", "shutdown"}}), 5);
  EXPECT_EQ(exporter_->QueuedBytes(), 0);
}

}  // namespace
}  // namespace gateway
