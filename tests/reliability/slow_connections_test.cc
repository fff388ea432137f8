// Issue 18's bounded-resources scenarios on the real gateway binary:
//   - 2,000 connections each announce a 16 MiB body and trickle it: the
//     gateway's peak RSS stays under its process bound, other clients (gRPC
//     and new HTTP connections) are served meanwhile, and the trickling
//     bodies are cut off once they fall below the minimum rate;
//   - under `ulimit -n 256`, a flood of connections on both receivers runs
//     it out of descriptors: it neither spins nor floods its log, and serves
//     again once the flood is gone.
// Delivered spans are counted by id at a FakeDynatrace in this process.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/reliability/gateway_process.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

constexpr int kSlowConnections = 2000;
constexpr int kProcessBoundMib = 128;

// A blocking TCP connection to 127.0.0.1:port, or -1.
int Connect(int port) {
  RawHttpClient client(port);
  return client.connected() ? client.Release() : -1;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// True once the peer has closed `fd` (EOF or reset); never blocks.
bool PeerClosed(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char buf[512];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// A field of /proc/<pid>/status in KiB ("VmHWM"), or -1.
int64_t StatusKib(pid_t pid, const std::string& field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, field + ":")) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = -1;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib;
  }
  return -1;
}

// User plus system CPU of `pid`, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(text.substr(paren + 2), ' ');
  int64_t utime = 0;
  int64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) || !absl::SimpleAtoi(fields[12], &stime)) return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int OpenFiles(pid_t pid) {
  int count = 0;
  const std::string dir = absl::StrCat("/proc/", pid, "/fd/");
  for (int fd = 0; fd < 70000 && count < 100000; ++fd) {
    if (::access((dir + std::to_string(fd)).c_str(), F_OK) == 0) ++count;
    if (fd > 4096 && count == 0) break;
  }
  return count;
}

size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

class SlowConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // This process and the gateway (which inherits the limit) hold a few
    // thousand sockets each.
    rlimit files{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
    if (files.rlim_max != RLIM_INFINITY && files.rlim_max < kSlowConnections + 1000) {
      GTEST_SKIP() << "needs an open-file limit of " << kSlowConnections + 1000 << ", hard limit is " << files.rlim_max;
    }
    files.rlim_cur = files.rlim_max;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);

    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/slow_connections_XXXXXX");
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
  }

  void TearDown() override {
    for (int fd : sockets_) ::close(fd);
  }

  std::unique_ptr<GatewayProcess> StartGateway(BinaryTestConfig config, int max_open_files = 0) {
    config.dynatrace_url = dynatrace_->url();
    config.queue_directory = dir_ + "/queue";
    const std::string path = dir_ + "/gateway.yaml";
    std::ofstream(path) << BinaryTestConfigYaml(config);
    std::unique_ptr<GatewayProcess> gateway = GatewayProcess::Start(GatewayProcess::Binary(), path, max_open_files);
    if (gateway == nullptr) return nullptr;
    if (!gateway->WaitListening(absl::Now() + absl::Seconds(30), &grpc_port_, &http_port_)) {
      ADD_FAILURE() << "gateway did not start\n" << gateway->Log();
      return nullptr;
    }
    return gateway;
  }

  // Sends 10 requests of 20 spans on each receiver, HTTP on a new connection
  // each; the ids of the acknowledged spans go to `acked`, the count of
  // requests not acknowledged is returned.
  int SendGoodSpans(SpanFactory& spans, std::vector<std::string>* acked) {
    int failed = 0;
    for (int i = 0; i < 20; ++i) {
      ExportTraceServiceRequest request = spans.Request(20);
      const bool ok = i % 2 == 0
                          ? GrpcExportRaw(grpc_port_, kTraceExport, request.SerializeAsString(), absl::Seconds(5)).ok()
                          : HttpPost(http_port_, "/v1/traces", "application/x-protobuf", request.SerializeAsString(),
                                     "", absl::Seconds(5))
                                    .status == 200;
      if (!ok) {
        ++failed;
        continue;
      }
      for (const auto& span : request.resource_spans(0).scope_spans(0).spans()) acked->push_back(span.span_id());
    }
    return failed;
  }

  // Waits until every acknowledged span arrived, then expects each exactly
  // once and nothing else.
  void ExpectDeliveredOnce(const std::vector<std::string>& acked) {
    std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, acked, absl::Seconds(60));
    for (const std::string& id : acked) EXPECT_EQ(counts[id], 1);
    EXPECT_EQ(counts.size(), acked.size());
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::string dir_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::vector<int> sockets_;
};

TEST_F(SlowConnectionsTest, TwoThousandSlowBodiesHoldNeitherMemoryNorTheOtherClients) {
  std::unique_ptr<GatewayProcess> gateway = StartGateway(
      {.http_max_connections = 2 * kSlowConnections, .process_memory_limit_mib = kProcessBoundMib});
  ASSERT_NE(gateway, nullptr);
  const pid_t pid = gateway->pid();

  // Each announces 16 MiB and sends 1,000 bytes of it.
  const std::string head = absl::StrCat(
      "POST /v1/traces HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/x-protobuf\r\n"
      "Content-Length: 16777216\r\n\r\n",
      std::string(1000, '\x0a'));
  const absl::Time started = absl::Now();
  for (int i = 0; i < kSlowConnections; ++i) {
    const int fd = Connect(http_port_);
    ASSERT_GE(fd, 0) << "connection " << i;
    sockets_.push_back(fd);
    ASSERT_TRUE(SendAll(fd, head)) << "connection " << i;
  }
  // The gateway holds every one of them (a descriptor each).
  const absl::Time all_open_by = absl::Now() + absl::Seconds(10);
  while (OpenFiles(pid) < kSlowConnections && absl::Now() < all_open_by) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_GE(OpenFiles(pid), kSlowConnections);

  // Other clients are served meanwhile, well inside the 5 s grace.
  SpanFactory spans(1);
  std::vector<std::string> acked;
  EXPECT_EQ(SendGoodSpans(spans, &acked), 0);
  EXPECT_LT(absl::Now() - started, absl::Seconds(5)) << "the slow bodies were cut before the check";

  // 100 bytes a second from each, below the 1,024 B/s minimum: every one is
  // cut off once the grace has passed.
  std::vector<bool> closed(sockets_.size(), false);
  size_t open = sockets_.size();
  const absl::Time trickle_until = absl::Now() + absl::Seconds(40);
  const std::string trickle(100, '\x0a');
  while (open > 0 && absl::Now() < trickle_until) {
    for (size_t i = 0; i < sockets_.size(); ++i) {
      if (closed[i]) continue;
      if (PeerClosed(sockets_[i]) || !SendAll(sockets_[i], trickle)) {
        closed[i] = true;
        --open;
      }
    }
    absl::SleepFor(absl::Seconds(1));
  }
  const absl::Duration elapsed = absl::Now() - started;
  EXPECT_EQ(open, 0u) << "slow connections still open after " << elapsed;

  const int64_t peak_kib = StatusKib(pid, "VmHWM");
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, kProcessBoundMib * 1024) << "peak RSS " << peak_kib << " KiB";
  std::printf("2000 slow bodies: peak RSS %lld KiB, all cut off after %s\n", static_cast<long long>(peak_kib),
              absl::FormatDuration(elapsed).c_str());

  const std::string metrics = HttpGet(gateway->admin_port(), "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "gateway_http_bodies_too_slow"), kSlowConnections) << metrics;
  // One log line a second at most for all of them.
  const size_t slow_lines = CountOccurrences(gateway->Log(), "\"msg\":\"http_body_too_slow\"");
  EXPECT_GE(slow_lines, 1u);
  EXPECT_LE(slow_lines, static_cast<size_t>(absl::ToInt64Seconds(elapsed)) + 2);

  ExpectDeliveredOnce(acked);  // and nothing of the slow bodies
  gateway->Signal(SIGTERM);
  const int status = gateway->WaitExit(absl::Now() + absl::Seconds(15));
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(SlowConnectionsTest, OutOfDescriptorsItNeitherSpinsNorFloodsTheLogAndServesAgain) {
  std::unique_ptr<GatewayProcess> gateway = StartGateway({}, /*max_open_files=*/256);
  ASSERT_NE(gateway, nullptr);
  const pid_t pid = gateway->pid();
  // It said at start that 256 descriptors are too few for its connections.
  EXPECT_NE(gateway->Log().find("\"msg\":\"open_file_limit_low\""), std::string::npos) << gateway->Log();
  const double cpu_before = CpuSeconds(pid);
  const size_t log_before = gateway->Log().size();

  // 600 connections on each receiver: far past 256 descriptors.
  for (int i = 0; i < 600; ++i) {
    for (int port : {http_port_, grpc_port_}) {
      const int fd = Connect(port);
      ASSERT_GE(fd, 0);
      sockets_.push_back(fd);
    }
  }
  constexpr absl::Duration kWindow = absl::Seconds(4);
  absl::SleepFor(kWindow);
  const double cpu = CpuSeconds(pid) - cpu_before;
  // A spinning accept loop burns a core: ~4 s of CPU in the window.
  EXPECT_LT(cpu, 1.0) << "CPU seconds in " << kWindow;
  const std::string log = gateway->Log().substr(log_before);
  const size_t http_lines = CountOccurrences(log, "\"msg\":\"http_accept_failed\"");
  const size_t grpc_lines = CountOccurrences(log, "\"msg\":\"grpc_accept_failed\"");
  std::printf("out of descriptors for %s: %.2f CPU s, %zu http_accept_failed and %zu grpc_accept_failed lines\n",
              absl::FormatDuration(kWindow).c_str(), cpu, http_lines, grpc_lines);
  EXPECT_GE(http_lines, 1u) << "the gateway did not run out of descriptors";
  EXPECT_GE(grpc_lines, 1u) << "the gateway did not run out of descriptors";
  EXPECT_LE(http_lines, static_cast<size_t>(absl::ToInt64Seconds(kWindow)) + 2) << log;
  EXPECT_LE(grpc_lines, static_cast<size_t>(absl::ToInt64Seconds(kWindow)) + 2) << log;

  for (int fd : sockets_) ::close(fd);
  sockets_.clear();
  // Serving again once the flood is gone (the accept back-off is at most 1 s).
  SpanFactory spans(1);
  std::vector<std::string> acked;
  int failed = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    acked.clear();
    failed = SendGoodSpans(spans, &acked);
    if (failed == 0) break;
    absl::SleepFor(absl::Milliseconds(500));
  } while (absl::Now() < deadline);
  EXPECT_EQ(failed, 0) << gateway->Log().substr(log_before);
  const std::string metrics = HttpGet(gateway->admin_port(), "/metrics").body;
  EXPECT_GT(MetricValue(metrics, "gateway_http_accept_failures"), 0) << metrics;
  EXPECT_GT(MetricValue(metrics, "gateway_grpc_accept_failures"), 0) << metrics;
  // Spans of rounds that failed part way may have been accepted too; those
  // of the round that fully succeeded must each arrive exactly once.
  std::map<std::string, int> counts = WaitForSpanIds(*dynatrace_, acked, absl::Seconds(60));
  for (const std::string& id : acked) EXPECT_EQ(counts[id], 1);
  gateway->Signal(SIGTERM);
  const int status = gateway->WaitExit(absl::Now() + absl::Seconds(15));
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace gateway::reliability
