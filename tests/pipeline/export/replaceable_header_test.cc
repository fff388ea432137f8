// The API token replaced while the exporter runs: ReplaceableHeader and
// ReadSecretFile, and the exporter over libcurl against a fake Dynatrace
// that accepts only the new token.
#include "pipeline/export/replaceable_header.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"
#include "pipeline/export/otlp_http_exporter.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_dynatrace.h"

namespace gateway {
namespace {

using testing::FakeClock;
using testing::FakeDynatrace;

class ReplaceableHeaderTest : public ::testing::Test {
 protected:
  static std::string WriteFile(const std::string& name, const std::string& contents) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
    std::ofstream(path, std::ios::trunc) << contents;
    return path;
  }

  // `n` spans with ids first_id.. in one request.
  static std::string TraceRequest(int n, int first_id) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
    auto* scope = request.add_resource_spans()->add_scope_spans();
    for (int i = 0; i < n; ++i) {
      auto* span = scope->add_spans();
      span->set_trace_id(std::string(16, '\x01'));
      const uint64_t id = static_cast<uint64_t>(first_id + i);
      span->set_span_id(std::string(reinterpret_cast<const char*>(&id), 8));
      span->set_name("process");
    }
    return request.SerializeAsString();
  }

  // Polls `pred` (real time) until true or 20 s pass.
  template <typename Pred>
  static bool WaitUntil(Pred pred) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline && !pred()) absl::SleepFor(absl::Milliseconds(2));
    return pred();
  }
};

TEST_F(ReplaceableHeaderTest, ReplaceBumpsTheVersionAndTheValue) {
  ReplaceableHeader header("Authorization", "Api-Token old");
  EXPECT_EQ(header.name(), "Authorization");
  EXPECT_EQ(header.version(), 0u);
  EXPECT_EQ(header.value(), "Api-Token old");
  header.Replace("Api-Token new");
  EXPECT_EQ(header.version(), 1u);
  EXPECT_EQ(header.value(), "Api-Token new");
}

// Readers on other threads see either value whole, never a torn one.
TEST_F(ReplaceableHeaderTest, ReadersOnOtherThreadsSeeWholeValues) {
  ReplaceableHeader header("Authorization", std::string(64, 'a'));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const std::string v = header.value();
        if (v != std::string(64, 'a') && v != std::string(64, 'b')) torn.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) header.Replace(std::string(64, i % 2 == 0 ? 'b' : 'a'));
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(header.version(), 2000u);
}

TEST_F(ReplaceableHeaderTest, ReadSecretFileTrimsAndRefusesMissingOrEmptyFiles) {
  absl::StatusOr<std::string> token = ReadSecretFile(WriteFile("token", "  dt0c01.ABC \n"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "dt0c01.ABC");
  EXPECT_FALSE(ReadSecretFile(WriteFile("empty", "\n")).ok());
  absl::StatusOr<std::string> missing = ReadSecretFile("/nonexistent/token");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/token"), std::string_view::npos);
}

// Dynatrace refuses the old token (401) while the data is kept and retried;
// once the token is replaced, the next attempt carries the new one and every
// span arrives exactly once.
TEST_F(ReplaceableHeaderTest, TheExporterSendsTheReplacedTokenFromTheNextAttemptOn) {
  FakeDynatrace::Options dt_options;
  dt_options.token = "dt0c01.NEWTOKENNEWTOKEN";
  auto dt = FakeDynatrace::Start(dt_options);
  ASSERT_TRUE(dt.ok()) << dt.status();
  FakeClock clock;
  MetricsRegistry registry;
  OtlpHttpExporterOptions options = ForDynatrace((*dt)->url(), "dt0c01.OLDTOKENOLDTOKEN");
  auto token = std::make_shared<ReplaceableHeader>("Authorization", "Api-Token dt0c01.OLDTOKENOLDTOKEN");
  options.replaceable_header = token;
  std::unique_ptr<Exporter> exporter = NewOtlpHttpExporter(options, registry, clock);

  Mutex mu;
  std::vector<ExportOutcome> outcomes;
  for (int r = 0; r < 3; ++r) {
    ExportRequest request;
    request.signal = Signal::kTraces;
    request.body = TraceRequest(5, 1 + 5 * r);
    request.items = 5;
    request.on_done = [&](ExportResult result) {
      MutexLock lock(&mu);
      outcomes.push_back(result.outcome);
    };
    exporter->Export(std::move(request));
  }
  const auto refused = [&] {
    return registry.CounterValue("gateway_export_failures_total", {{"signal", "traces"}, {"reason", "http_401"}});
  };
  ASSERT_TRUE(WaitUntil([&] { return refused() >= 1; }));
  EXPECT_FALSE(exporter->Healthy());
  EXPECT_EQ((*dt)->SpanCount(), 0);

  token->Replace("Api-Token dt0c01.NEWTOKENNEWTOKEN");
  // Each retry waits at most 2 x max_backoff on the fake clock.
  ASSERT_TRUE(WaitUntil([&] {
    clock.Advance(absl::Seconds(5));
    MutexLock lock(&mu);
    return outcomes.size() == 3;
  }));
  for (ExportOutcome outcome : outcomes) EXPECT_EQ(outcome, ExportOutcome::kDelivered);
  EXPECT_EQ((*dt)->SpanCount(), 15);
  std::set<std::string> ids;  // each span exactly once, by id
  for (const auto& rs : (*dt)->ReceivedSpans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) {
        EXPECT_TRUE(ids.insert(span.span_id()).second);
      }
    }
  }
  EXPECT_EQ(ids.size(), 15u);
  EXPECT_TRUE(exporter->Healthy());
  for (const FakeDynatrace::ReceivedRequest& r : (*dt)->Requests()) {
    if (r.status == 200) {
      EXPECT_EQ(r.headers.at("authorization"), "Api-Token dt0c01.NEWTOKENNEWTOKEN");
    }
  }
  exporter.reset();
}

// A token replaced after start-up is scrubbed from what the exporter logs
// (a refusal's body that echoes it), as the configured one is.
TEST_F(ReplaceableHeaderTest, TheReplacedTokenIsRedactedFromLoggedResponses) {
  FakeDynatrace::Options dt_options;
  dt_options.token = "dt0c01.NEWTOKENNEWTOKEN";
  auto dt = FakeDynatrace::Start(dt_options);
  ASSERT_TRUE(dt.ok()) << dt.status();
  (*dt)->PushResponse({.status = 400, .body = "bad request from Api-Token dt0c01.NEWTOKENNEWTOKEN"});
  static Mutex log_mu;
  static std::string* logs = new std::string();
  SetLogSink([](std::string_view line) {
    MutexLock lock(&log_mu);
    logs->append(line);
  });
  FakeClock clock;
  MetricsRegistry registry;
  OtlpHttpExporterOptions options = ForDynatrace((*dt)->url(), "dt0c01.OLDTOKENOLDTOKEN");
  auto token = std::make_shared<ReplaceableHeader>("Authorization", "Api-Token dt0c01.OLDTOKENOLDTOKEN");
  options.replaceable_header = token;
  token->Replace("Api-Token dt0c01.NEWTOKENNEWTOKEN");
  std::unique_ptr<Exporter> exporter = NewOtlpHttpExporter(options, registry, clock);
  std::atomic<bool> done{false};
  ExportRequest request;
  request.signal = Signal::kTraces;
  request.body = TraceRequest(1, 1);
  request.items = 1;
  request.on_done = [&](ExportResult) { done = true; };
  exporter->Export(std::move(request));
  ASSERT_TRUE(WaitUntil([&] { return done.load(); }));
  exporter.reset();
  SetLogSink(nullptr);
  MutexLock lock(&log_mu);
  EXPECT_NE(logs->find("bad request from"), std::string::npos) << *logs;
  EXPECT_EQ(logs->find("NEWTOKENNEWTOKEN"), std::string::npos) << *logs;
}

}  // namespace
}  // namespace gateway
