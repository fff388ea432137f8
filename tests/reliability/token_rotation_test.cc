// The API token rotated without a restart, on the real gateway binary with
// the persistent queue on: Dynatrace (a FakeDynatrace in this process)
// accepts only the new token and answers 401 to the old one. Spans sent
// meanwhile are kept and /readyz answers 503; a SIGHUP with an unreadable
// token file keeps the old token; once the file holds the new token and
// SIGHUP is sent, every acknowledged span (counted by id) arrives exactly
// once and /readyz answers 200 again.
#include <signal.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/reliability/gateway_process.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

constexpr char kOldToken[] = "dt0c01.OLDTOKENOLDTOKENOLD";
constexpr char kNewToken[] = "dt0c01.NEWTOKENNEWTOKENNEW";

// Polls `pred` every 20 ms until true or `deadline` (real time).
template <typename Pred>
bool WaitUntil(Pred pred, absl::Time deadline) {
  while (!pred() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  return pred();
}

class TokenRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeDynatrace::Options options;
    options.token = kNewToken;
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start(options);
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/token_rotation_XXXXXX");
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    token_path_ = dir_ + "/dt_api_token";
    WriteToken(std::string(kOldToken) + "\n");
    config_path_ = dir_ + "/gateway.yaml";
    std::ofstream(config_path_) << BinaryTestConfigYaml({.dynatrace_url = dynatrace_->url(),
                                                         .token = absl::StrCat("api_token_file: \"", token_path_, "\""),
                                                         .queue_directory = dir_ + "/queue"});
  }

  void WriteToken(const std::string& contents) { std::ofstream(token_path_, std::ios::trunc) << contents; }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::string dir_;
  std::string token_path_;
  std::string config_path_;
};

TEST_F(TokenRotationTest, ANewTokenFileAndSighupDeliverEverySpanKeptDuringTheRefusal) {
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::Start(GatewayProcess::Binary(), config_path_);
  ASSERT_NE(gateway, nullptr);
  int grpc_port = 0;
  int http_port = 0;
  ASSERT_TRUE(gateway->WaitListening(absl::Now() + absl::Seconds(30), &grpc_port, &http_port)) << gateway->Log();
  const int admin_port = gateway->admin_port();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);

  // 10 requests of 20 spans, alternating gRPC and HTTP, all acknowledged.
  SpanFactory spans;
  std::vector<std::string> acked;
  for (int i = 0; i < 10; ++i) {
    ExportTraceServiceRequest request = spans.Request(20);
    const std::string body = request.SerializeAsString();
    const bool ok = i % 2 == 0 ? GrpcExportRaw(grpc_port, kTraceExport, body, absl::Seconds(5)).ok()
                               : HttpPost(http_port, "/v1/traces", "application/x-protobuf", body).status == 200;
    ASSERT_TRUE(ok) << "request " << i << " refused; log:\n" << gateway->Log();
    for (const auto& span : request.resource_spans(0).scope_spans(0).spans()) acked.push_back(span.span_id());
  }

  // The old token is refused: nothing delivered, not ready, and it stays so.
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(admin_port, "/readyz").status == 503; }, deadline)) << gateway->Log();
  ASSERT_TRUE(WaitUntil([&] { return dynatrace_->RequestCount() >= 3; }, deadline));
  EXPECT_EQ(dynatrace_->SpanCount(), 0);

  // An empty token file: the re-read fails, the old token stays.
  WriteToken("\n");
  gateway->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return gateway->Log().find("api_token_reload_failed") != std::string::npos; },
                        deadline))
      << gateway->Log();
  const int64_t requests_before = dynatrace_->RequestCount();
  ASSERT_TRUE(WaitUntil([&] { return dynatrace_->RequestCount() >= requests_before + 2; }, deadline));
  EXPECT_EQ(dynatrace_->SpanCount(), 0);
  EXPECT_EQ(HttpGet(admin_port, "/readyz").status, 503);

  // The new token: every acknowledged span arrives exactly once.
  WriteToken(std::string(kNewToken) + "\n");
  gateway->Signal(SIGHUP);
  std::map<std::string, int> counts;
  ASSERT_TRUE(WaitUntil(
      [&] {
        counts = SpanIdCounts(*dynatrace_);
        for (const std::string& id : acked) {
          if (counts.count(id) == 0) return false;
        }
        return true;
      },
      deadline))
      << "delivered " << counts.size() << " of " << acked.size() << "; log:\n"
      << gateway->Log();
  for (const std::string& id : acked) EXPECT_EQ(counts[id], 1);
  EXPECT_EQ(counts.size(), acked.size());
  EXPECT_TRUE(WaitUntil([&] { return HttpGet(admin_port, "/readyz").status == 200; }, deadline));
  const std::string log = gateway->Log();
  EXPECT_NE(log.find("api_token_reloaded"), std::string::npos);
  EXPECT_EQ(log.find(kNewToken), std::string::npos) << "the token reached the log";

  gateway->Signal(SIGTERM);
  const int status = gateway->WaitExit(absl::Now() + absl::Seconds(15));
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace gateway::reliability
