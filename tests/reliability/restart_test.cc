// kill -9 of the real gateway binary under load, with the persistent queue:
// every span acknowledged to a client before the crash must reach Dynatrace
// after the restart on the same queue directory. Delivery after a crash is at
// least once (acks of delivered requests not yet on disk replay them), so
// duplicates are counted and reported, not failed.
//
// The binary is //gateway:otlp_gateway (path in $GATEWAY_BINARY), run as a
// child process on 127.0.0.1 port 0; its "listening" log line gives the
// ports. Dynatrace is a FakeDynatrace in this process, answering 503 for a
// while so that acknowledged spans are still queued when the gateway dies.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/sync.h"
#include "tests/reliability/gateway_process.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

// Sends requests of 20 spans, alternating gRPC and HTTP, to whatever ports
// are current (0: the gateway is down, wait a little), and records the span
// ids of acknowledged requests.
class Sender {
 public:
  Sender() : thread_([this] { Run(); }) {}
  ~Sender() { Stop(); }

  void SetPorts(int grpc_port, int http_port) {
    MutexLock lock(&mu_);
    grpc_port_ = grpc_port;
    http_port_ = http_port;
  }

  bool WaitAcked(int64_t requests, absl::Time deadline) {
    MutexLock lock(&mu_);
    auto enough = [this, requests]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return acked_requests_ >= requests; };
    while (!enough() && mu_.AwaitWithDeadline(enough, deadline)) {
    }
    return enough();
  }

  void Stop() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<std::string> AckedIds() const {
    MutexLock lock(&mu_);
    return acked_ids_;
  }
  std::set<std::string> UnackedIds() const {
    MutexLock lock(&mu_);
    return unacked_ids_;
  }
  int64_t AckedRequests() const {
    MutexLock lock(&mu_);
    return acked_requests_;
  }
  int64_t FailedRequests() const {
    MutexLock lock(&mu_);
    return failed_requests_;
  }

 private:
  void Run() {
    SpanFactory spans(uint64_t{1} << 32);
    const absl::Time deadline = absl::Now() + absl::Seconds(75);
    for (int i = 0; i < 100000 && !stop_.HasBeenNotified() && absl::Now() < deadline; ++i) {
      int grpc_port;
      int http_port;
      {
        MutexLock lock(&mu_);
        grpc_port = grpc_port_;
        http_port = http_port_;
      }
      if (grpc_port == 0) {
        stop_.WaitForNotificationWithTimeout(absl::Milliseconds(10));
        continue;
      }
      ExportTraceServiceRequest request = spans.Request(20);
      const std::string body = request.SerializeAsString();
      const bool ok =
          i % 2 == 0
              ? GrpcExportRaw(grpc_port, kTraceExport, body, absl::Seconds(5)).ok()
              : HttpPost(http_port, "/v1/traces", "application/x-protobuf", body, "", absl::Seconds(5)).status == 200;
      MutexLock lock(&mu_);
      for (const auto& span : request.resource_spans(0).scope_spans(0).spans()) {
        if (ok) {
          acked_ids_.push_back(span.span_id());
        } else {
          unacked_ids_.insert(span.span_id());
        }
      }
      ++(ok ? acked_requests_ : failed_requests_);
      if (!ok) {
        mu_.Unlock();
        stop_.WaitForNotificationWithTimeout(absl::Milliseconds(10));
        mu_.Lock();
      }
    }
  }

  mutable Mutex mu_;
  int grpc_port_ ABSL_GUARDED_BY(mu_) = 0;
  int http_port_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> acked_ids_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> unacked_ids_ ABSL_GUARDED_BY(mu_);
  int64_t acked_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_requests_ ABSL_GUARDED_BY(mu_) = 0;
  Notification stop_;
  std::thread thread_;
};

std::string TempDir() {
  const char* env = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(env != nullptr ? env : "/tmp", "/restart_test_XXXXXX");
  if (::mkdtemp(dir.data()) == nullptr) return "";
  return dir;
}

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    dir_ = TempDir();
    ASSERT_FALSE(dir_.empty());
    config_path_ = dir_ + "/gateway.yaml";
    std::ofstream(config_path_) << BinaryTestConfigYaml(
        {.dynatrace_url = dynatrace_->url(), .queue_directory = dir_ + "/queue", .hold_window = "200ms"});
  }

  std::unique_ptr<GatewayProcess> StartGateway(int* grpc_port, int* http_port) {
    std::unique_ptr<GatewayProcess> process = GatewayProcess::Start(GatewayProcess::Binary(), config_path_);
    if (process == nullptr) return nullptr;
    if (!process->WaitListening(absl::Now() + absl::Seconds(30), grpc_port, http_port)) {
      ADD_FAILURE() << "gateway did not start; its log:\n" << process->Log();
      return nullptr;
    }
    return process;
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::string dir_;
  std::string config_path_;
};

TEST_F(RestartTest, KillDashNineLosesNoAcknowledgedSpan) {
  int grpc_port = 0;
  int http_port = 0;
  std::unique_ptr<GatewayProcess> first = StartGateway(&grpc_port, &http_port);
  ASSERT_NE(first, nullptr);

  Sender sender;
  sender.SetPorts(grpc_port, http_port);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  // Delivered normally first (their acks may not be on disk at the crash:
  // the source of duplicates), then queued behind a failing backend.
  ASSERT_TRUE(sender.WaitAcked(10, deadline));
  // Some spans reach the backend before it starts failing (slow builds, such
  // as ASan's, export later than the tenth acknowledgement).
  ASSERT_TRUE(dynatrace_->WaitForSpans(1, deadline));
  dynatrace_->SetDefaultResponse({.status = 503});
  ASSERT_TRUE(sender.WaitAcked(40, deadline));

  first->Signal(SIGKILL);
  sender.SetPorts(0, 0);
  const int status = first->WaitExit(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  const int64_t acked_before_crash = sender.AckedRequests();
  const int64_t delivered_before_crash = dynatrace_->SpanCount();

  std::unique_ptr<GatewayProcess> second = StartGateway(&grpc_port, &http_port);
  ASSERT_NE(second, nullptr);
  sender.SetPorts(grpc_port, http_port);
  ASSERT_TRUE(sender.WaitAcked(acked_before_crash + 15, deadline));
  dynatrace_->SetDefaultResponse({});
  ASSERT_TRUE(sender.WaitAcked(acked_before_crash + 25, deadline));
  sender.Stop();

  const std::vector<std::string> acked = sender.AckedIds();
  std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, acked, absl::Seconds(40));
  size_t present = 0;
  for (const std::string& id : acked) present += counts.count(id);

  second->Signal(SIGTERM);
  const int second_status = second->WaitExit(absl::Now() + absl::Seconds(15));
  EXPECT_TRUE(second_status != -1 && WIFEXITED(second_status) && WEXITSTATUS(second_status) == 0)
      << "SIGTERM: " << second_status;

  int64_t duplicated = 0;
  int64_t extra_copies = 0;
  for (const std::string& id : acked) {
    auto it = counts.find(id);
    if (it != counts.end() && it->second > 1) {
      ++duplicated;
      extra_copies += it->second - 1;
    }
  }
  int64_t unacked_delivered = 0;
  for (const std::string& id : sender.UnackedIds()) unacked_delivered += counts.count(id);
  std::cout << "restart: acked_spans=" << acked.size() << " (requests " << sender.AckedRequests()
            << ", failed requests " << sender.FailedRequests() << ") delivered_before_crash="
            << delivered_before_crash << " missing=" << acked.size() - present << " duplicated_spans=" << duplicated
            << " extra_copies=" << extra_copies << " unacked_but_delivered=" << unacked_delivered << "\n";
  RecordProperty("acked_spans", static_cast<int>(acked.size()));
  RecordProperty("duplicated_spans", static_cast<int>(duplicated));
  EXPECT_EQ(present, acked.size()) << "acknowledged spans lost across kill -9; second gateway's log:\n"
                                   << second->Log();
  EXPECT_GT(delivered_before_crash, 0);
  EXPECT_NE(second->Log().find("persistent_queue_replayed"), std::string::npos)
      << "the restarted gateway replayed nothing";
}

}  // namespace
}  // namespace gateway::reliability
