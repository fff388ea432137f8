// The extension's event loop against a scripted Extensions API, a real
// gateway (receivers on port 0) and the Dynatrace stand-in: every span an
// invoke sent is at Dynatrace, reparented, when the next event is asked for;
// init and event-loop failures reach Lambda's error endpoints; a refused
// telemetry subscription, a SHUTDOWN while delivery lags and Dynatrace being
// down are handled within their deadlines.
#include "gateway/lambda/extension_runner.h"

#include <curl/curl.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/lambda/extension_config.h"
#include "gtest/gtest.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/fakes/fake_extensions_api.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway::lambda {
namespace {

using testing::FakeDynatrace;
using testing::FakeExtensionsApi;
using testing::ProtoSpan;
using testing::SpanIdBytes;
using testing::TraceIdBytes;

constexpr char kToken[] = "dt0c01.RUNNERTEST";
constexpr absl::Duration kWait = absl::Seconds(20);

// POSTs `body` to 127.0.0.1:port/path; the HTTP status, 0 on failure.
long Post(int port, const std::string& path, const std::string& content_type, const std::string& body) {
  CURL* easy = curl_easy_init();
  const std::string url = absl::StrCat("http://127.0.0.1:", port, path);
  curl_slist* headers = curl_slist_append(nullptr, absl::StrCat("Content-Type: ", content_type).c_str());
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return status;
}

ProtoSpan MakeSpan(uint64_t trace, uint64_t span, std::optional<uint64_t> parent,
                   ProtoSpan::SpanKind kind = ProtoSpan::SPAN_KIND_INTERNAL, std::optional<uint64_t> link = {}) {
  ProtoSpan s;
  s.set_trace_id(TraceIdBytes(trace));
  s.set_span_id(SpanIdBytes(span));
  if (parent.has_value()) s.set_parent_span_id(SpanIdBytes(*parent));
  s.set_kind(kind);
  s.set_name("op");
  // Now: the exporter gives up on spans older than Dynatrace keeps.
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  s.set_start_time_unix_nano(now - 1'000'000);
  s.set_end_time_unix_nano(now);
  if (link.has_value()) {
    auto* l = s.add_links();
    l->set_trace_id(TraceIdBytes(*link));
    l->set_span_id(SpanIdBytes(*link));
  }
  return s;
}

// What one invoke of an SQS consumer sends, in the order an SDK does (a
// child before its parent, in separate requests): a producer span, a
// consumer span linked to it with a child, and a span whose parent never
// comes (it is held until the flush).
std::vector<std::vector<ProtoSpan>> InvokeRequests(int k) {
  const uint64_t n = static_cast<uint64_t>(k) * 100 + 1;
  return {
      {MakeSpan(n + 1, n + 2, n + 1)},
      {MakeSpan(n, n, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER),
       MakeSpan(n + 1, n + 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, n)},
      {MakeSpan(n + 3, n + 3, n + 50)},
  };
}

std::vector<ProtoSpan> Flatten(const std::vector<opentelemetry::proto::trace::v1::ResourceSpans>& received) {
  std::vector<ProtoSpan> out;
  for (const auto& rs : received) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) out.push_back(s);
    }
  }
  return out;
}

std::string RuntimeDoneBatch(const std::string& request_id) {
  return absl::StrCat(R"([{"time":"2026-01-01T00:00:00.000Z","type":"platform.runtimeDone","record":{"requestId":")",
                      request_id, R"(","status":"success"}}])");
}

class ExtensionRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeDynatrace::Options options;
    options.token = kToken;
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> dt = FakeDynatrace::Start(options);
    ASSERT_TRUE(dt.ok()) << dt.status();
    dt_ = *std::move(dt);
    config_ = ExtensionDefaults(MapEnv({}));
    config_.grpc.endpoint = "127.0.0.1:0";
    config_.http.endpoint = "127.0.0.1:0";
    config_.admin.endpoint = "127.0.0.1:0";
    config_.exporter.type = ExporterType::kDynatrace;
    config_.exporter.dynatrace.endpoint = dt_->url();
    config_.exporter.dynatrace.api_token = kToken;
    config_.exporter.timeout = absl::Seconds(5);
    settings_.runtime_api = "unused";
    settings_.extension_name = "otlp-reparent-gateway";
    settings_.telemetry_listen_host = "127.0.0.1";
    settings_.telemetry_host = "127.0.0.1";
    settings_.telemetry_port = 0;
    lifecycle_.flush_timeout = absl::Seconds(5);
    // What Dynatrace had when each event/next call arrived.
    api_.set_on_next([this](int call) {
      MutexLock lock(&mu_);
      at_next_[call] = Flatten(dt_->ReceivedSpans());
    });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      api_.PushEvent(testing::Shutdown(absl::Now() + absl::Seconds(2)));
      thread_.join();
    }
  }

  void StartRunner() {
    ExtensionRunnerDeps deps;
    deps.api = &api_;
    deps.load_config = [this]() -> absl::StatusOr<GatewayConfig> {
      if (!config_status_.ok()) return config_status_;
      return config_;
    };
    deps.start_gateway = [this](const GatewayConfig& config) {
      absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
      if (app.ok()) http_port_ = (*app)->http_port();
      ++gateway_starts_;
      return app;
    };
    deps.release_program_pages = release_program_pages_;
    runner_ = std::make_unique<ExtensionRunner>(settings_, lifecycle_, std::move(deps));
    thread_ = std::thread([this] { exit_code_ = runner_->Run(); });
  }

  // Waits for Run to return; its exit code, or -1 if it did not in time.
  int WaitForExit(absl::Duration timeout = kWait) {
    const absl::Time deadline = absl::Now() + timeout;
    while (exit_code_.load() == -2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    if (exit_code_.load() == -2) return -1;
    thread_.join();
    return exit_code_.load();
  }

  // Sends invoke k's spans; returns them all.
  std::vector<ProtoSpan> SendInvokeSpans(int k) {
    std::vector<ProtoSpan> all;
    for (const std::vector<ProtoSpan>& request : InvokeRequests(k)) {
      EXPECT_EQ(Post(http_port_.load(), "/v1/traces", "application/x-protobuf", testing::BuildRequest(request)), 200);
      all.insert(all.end(), request.begin(), request.end());
    }
    return all;
  }

  void SendRuntimeDone(const std::string& request_id) {
    EXPECT_EQ(Post(api_.telemetry_port(), "/telemetry", "application/json", RuntimeDoneBatch(request_id)), 200);
  }

  std::vector<ProtoSpan> AtNext(int call) {
    MutexLock lock(&mu_);
    return at_next_[call];
  }

  std::vector<ProtoSpan> Expected(const std::vector<ProtoSpan>& sent) {
    return testing::ReparentOffline(sent, config_.reparent);
  }

  std::unique_ptr<FakeDynatrace> dt_;
  FakeExtensionsApi api_;
  GatewayConfig config_;
  absl::Status config_status_;
  std::function<void(ProgramPageRelease)> release_program_pages_;
  ExtensionSettings settings_;
  LifecycleOptions lifecycle_;
  std::unique_ptr<ExtensionRunner> runner_;
  std::thread thread_;
  std::atomic<int> exit_code_{-2};
  std::atomic<int> http_port_{0};
  std::atomic<int> gateway_starts_{0};
  Mutex mu_;
  std::map<int, std::vector<ProtoSpan>> at_next_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ExtensionRunnerTest, EveryInvokesSpansAreAtDynatraceReparentedWhenTheNextEventIsRequested) {
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  EXPECT_EQ(api_.registered_name(), "otlp-reparent-gateway");
  EXPECT_EQ(api_.subscription().types, std::vector<std::string>{"platform"});
  EXPECT_EQ(api_.subscription().buffering_timeout_ms, 25);
  ASSERT_GT(http_port_.load(), 0);

  std::vector<ProtoSpan> sent_so_far;
  constexpr int kInvokes = 4;
  for (int k = 1; k <= kInvokes; ++k) {
    const std::string id = absl::StrCat("req-", k);
    api_.PushEvent(testing::Invoke(id, absl::Now() + absl::Seconds(60)));
    std::vector<ProtoSpan> sent = SendInvokeSpans(k);
    sent_so_far.insert(sent_so_far.end(), sent.begin(), sent.end());
    SendRuntimeDone(id);
    ASSERT_TRUE(api_.WaitForNextCalls(k + 1, absl::Now() + kWait));
    EXPECT_EQ(testing::Canonical(AtNext(k + 1)), testing::Canonical(Expected(sent_so_far)))
        << "invoke " << k << ": what Dynatrace had when the next event was requested";
  }
  api_.PushEvent(testing::Shutdown(absl::Now() + absl::Seconds(2)));
  EXPECT_EQ(WaitForExit(), 0);
  EXPECT_EQ(runner_->stats().invokes, kInvokes);
  EXPECT_EQ(runner_->stats().runtime_done_seen, kInvokes);
  EXPECT_EQ(runner_->stats().runtime_done_missed, 0);
  EXPECT_EQ(runner_->stats().flushes_incomplete, 0);
  EXPECT_TRUE(api_.errors().empty());
}

TEST_F(ExtensionRunnerTest, ProgramPagesAreReclaimedWhenTheFirstInvokeBeginsAndUnmappedWhenItEnds) {
  struct Release {
    ProgramPageRelease how;
    int next_calls;
    int64_t runtime_done_seen;
  };
  Mutex released_mu;
  std::vector<Release> released ABSL_GUARDED_BY(released_mu);
  release_program_pages_ = [&](ProgramPageRelease how) {
    MutexLock lock(&released_mu);
    released.push_back({how, api_.next_calls(), runner_->stats().runtime_done_seen});
  };
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  {
    MutexLock lock(&released_mu);
    EXPECT_TRUE(released.empty()) << "not during init";
  }
  constexpr int kInvokes = 3;
  for (int k = 1; k <= kInvokes; ++k) {
    const std::string id = absl::StrCat("req-", k);
    api_.PushEvent(testing::Invoke(id, absl::Now() + absl::Seconds(60)));
    if (k == 1) {
      // Reclaimed before the runner waits for the first runtimeDone.
      MutexLock lock(&released_mu);
      ASSERT_TRUE(released_mu.AwaitWithTimeout(
          [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(released_mu) { return !released.empty(); }, kWait))
          << "nothing released when the first invoke began";
    }
    SendInvokeSpans(k);
    SendRuntimeDone(id);
    ASSERT_TRUE(api_.WaitForNextCalls(k + 1, absl::Now() + kWait));
  }
  api_.PushEvent(testing::Shutdown(absl::Now() + absl::Seconds(2)));
  EXPECT_EQ(WaitForExit(), 0);
  MutexLock lock(&released_mu);
  // Once each, both before the second event/next; unmapped after the first
  // invoke's runtimeDone.
  ASSERT_EQ(released.size(), 2u);
  EXPECT_EQ(released[0].how, ProgramPageRelease::kReclaim);
  EXPECT_EQ(released[0].next_calls, 1);
  EXPECT_EQ(released[0].runtime_done_seen, 0);
  EXPECT_EQ(released[1].how, ProgramPageRelease::kUnmap);
  EXPECT_EQ(released[1].next_calls, 1);
  EXPECT_EQ(released[1].runtime_done_seen, 1);
}

TEST_F(ExtensionRunnerTest, RegisterFailureExitsWithoutStartingAnything) {
  api_.set_register_status(absl::PermissionDeniedError("register: HTTP 403"));
  StartRunner();
  EXPECT_EQ(WaitForExit(), 1);
  EXPECT_EQ(gateway_starts_.load(), 0);
  EXPECT_EQ(api_.next_calls(), 0);
  // No identifier, so nothing can be reported to init/error.
  EXPECT_TRUE(api_.errors().empty());
}

TEST_F(ExtensionRunnerTest, AConfigurationErrorGoesToInitError) {
  config_status_ = absl::InvalidArgumentError("DT_ENDPOINT is not set: the extension has nowhere to send telemetry");
  StartRunner();
  EXPECT_EQ(WaitForExit(), 1);
  ASSERT_EQ(api_.errors().size(), 1u);
  EXPECT_TRUE(api_.errors()[0].init);
  EXPECT_EQ(api_.errors()[0].type, kErrorConfig);
  EXPECT_NE(api_.errors()[0].message.find("DT_ENDPOINT is not set"), std::string::npos);
  EXPECT_EQ(gateway_starts_.load(), 0);
  EXPECT_EQ(api_.next_calls(), 0);
}

TEST_F(ExtensionRunnerTest, AListenerThatCannotStartGoesToInitError) {
  // Taken by the Dynatrace stand-in.
  config_.http.endpoint = absl::StrCat("127.0.0.1:", dt_->port());
  StartRunner();
  EXPECT_EQ(WaitForExit(), 1);
  ASSERT_EQ(api_.errors().size(), 1u);
  EXPECT_TRUE(api_.errors()[0].init);
  EXPECT_EQ(api_.errors()[0].type, kErrorStart);
  EXPECT_EQ(api_.next_calls(), 0);
}

TEST_F(ExtensionRunnerTest, AFailingEventNextGoesToExitError) {
  StartRunner();
  api_.PushNextError(absl::UnavailableError("event/next: HTTP 500"));
  EXPECT_EQ(WaitForExit(), 1);
  ASSERT_EQ(api_.errors().size(), 1u);
  EXPECT_FALSE(api_.errors()[0].init);
  EXPECT_EQ(api_.errors()[0].type, kErrorEventLoop);
}

TEST_F(ExtensionRunnerTest, RefusedTelemetrySubscriptionDeliversByShutdownWithoutHoldingInvokes) {
  api_.set_subscribe_status(absl::InvalidArgumentError("telemetry subscribe: HTTP 400"));
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  api_.PushEvent(testing::Invoke("req-1", absl::Now() + absl::Seconds(60)));
  // Without runtimeDone the next event is asked for at once.
  ASSERT_TRUE(api_.WaitForNextCalls(2, absl::Now() + kWait));
  std::vector<ProtoSpan> sent = SendInvokeSpans(1);
  api_.PushEvent(testing::Shutdown(absl::Now() + absl::Seconds(2)));
  EXPECT_EQ(WaitForExit(), 0);
  EXPECT_EQ(testing::Canonical(Flatten(dt_->ReceivedSpans())), testing::Canonical(Expected(sent)));
  EXPECT_TRUE(api_.errors().empty());
}

TEST_F(ExtensionRunnerTest, AMissingRuntimeDoneStillFlushesBeforeTheFunctionsDeadline) {
  lifecycle_.flush_timeout = absl::Milliseconds(300);
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  api_.PushEvent(testing::Invoke("req-1", deadline));
  std::vector<ProtoSpan> sent = SendInvokeSpans(1);
  ASSERT_TRUE(api_.WaitForNextCalls(2, absl::Now() + kWait));
  EXPECT_LT(absl::Now(), deadline) << "the next event was asked for before the function's deadline";
  EXPECT_EQ(testing::Canonical(AtNext(2)), testing::Canonical(Expected(sent)));
  EXPECT_EQ(runner_->stats().runtime_done_missed, 1);
}

TEST_F(ExtensionRunnerTest, DynatraceDownDuringAnInvokeKeepsItsSpansForTheNextFlush) {
  lifecycle_.flush_timeout = absl::Milliseconds(400);
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  dt_->GoDown();
  api_.PushEvent(testing::Invoke("req-1", absl::Now() + absl::Seconds(60)));
  std::vector<ProtoSpan> sent = SendInvokeSpans(1);
  const absl::Time done_at = absl::Now();
  SendRuntimeDone("req-1");
  ASSERT_TRUE(api_.WaitForNextCalls(2, absl::Now() + kWait));
  EXPECT_LT(absl::Now() - done_at, absl::Seconds(3)) << "the invoke is not held past its flush timeout";
  EXPECT_TRUE(AtNext(2).empty());
  EXPECT_EQ(runner_->stats().flushes_incomplete, 1);
  EXPECT_GT(runner_->stats().undelivered_bytes, 0);

  ASSERT_TRUE(dt_->ComeBack().ok());
  api_.PushEvent(testing::Invoke("req-2", absl::Now() + absl::Seconds(60)));
  std::vector<ProtoSpan> second = SendInvokeSpans(2);
  sent.insert(sent.end(), second.begin(), second.end());
  SendRuntimeDone("req-2");
  ASSERT_TRUE(api_.WaitForNextCalls(3, absl::Now() + kWait));
  EXPECT_EQ(testing::Canonical(AtNext(3)), testing::Canonical(Expected(sent)))
      << "the second invoke's flush delivered what the first could not";
  EXPECT_EQ(runner_->stats().undelivered_bytes, 0);
}

TEST_F(ExtensionRunnerTest, ShutdownWhileDeliveryLagsFinishesItWithinTheDeadline) {
  lifecycle_.flush_timeout = absl::Milliseconds(200);
  // Dynatrace answers the first request after 700 ms: the invoke's flush
  // ends first, the SHUTDOWN flush sees the answer.
  dt_->PushResponse({.status = 200, .delay = absl::Milliseconds(700)});
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  api_.PushEvent(testing::Invoke("req-1", absl::Now() + absl::Seconds(60)));
  std::vector<ProtoSpan> sent = SendInvokeSpans(1);
  SendRuntimeDone("req-1");
  ASSERT_TRUE(api_.WaitForNextCalls(2, absl::Now() + kWait));
  EXPECT_EQ(runner_->stats().flushes_incomplete, 1);
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  api_.PushEvent(testing::Shutdown(deadline));
  EXPECT_EQ(WaitForExit(), 0);
  EXPECT_LT(absl::Now(), deadline + absl::Milliseconds(200));
  EXPECT_EQ(testing::Canonical(Flatten(dt_->ReceivedSpans())), testing::Canonical(Expected(sent)));
}

TEST_F(ExtensionRunnerTest, ShutdownWithDynatraceDownExitsZeroByTheDeadline) {
  lifecycle_.flush_timeout = absl::Milliseconds(300);
  StartRunner();
  ASSERT_TRUE(api_.WaitForSubscription(absl::Now() + kWait));
  dt_->GoDown();
  api_.PushEvent(testing::Invoke("req-1", absl::Now() + absl::Seconds(60)));
  SendInvokeSpans(1);
  SendRuntimeDone("req-1");
  ASSERT_TRUE(api_.WaitForNextCalls(2, absl::Now() + kWait));
  const absl::Time deadline = absl::Now() + absl::Milliseconds(800);
  api_.PushEvent(testing::Shutdown(deadline));
  EXPECT_EQ(WaitForExit(), 0);
  // The shutdown phase ends at the deadline: the extension must be gone by
  // then (give or take the 100 ms drain and thread joins).
  EXPECT_LT(absl::Now(), deadline + absl::Milliseconds(500));
  EXPECT_EQ(dt_->SpanCount(), 0);
  EXPECT_EQ(runner_->stats().flushes_incomplete, 2) << "the invoke's flush and the shutdown flush";
}

}  // namespace
}  // namespace gateway::lambda
