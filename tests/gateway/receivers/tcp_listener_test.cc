#include "gateway/receivers/tcp_listener.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "pipeline/base/sync.h"
#include "tests/gateway/receivers/http_test_client.h"

namespace gateway {
namespace {

using ::gateway::testing::RawHttpClient;

TEST(ListenTcpTest, BindsAnIpLiteralOrANameOnAPortTheKernelPicks) {
  for (const char* address : {"127.0.0.1:0", "localhost:0"}) {
    absl::StatusOr<ListenSocket> socket = ListenTcp(address);
    ASSERT_TRUE(socket.ok()) << address << ": " << socket.status();
    EXPECT_GT(socket->port(), 0) << address;
    RawHttpClient client(socket->port());
    EXPECT_TRUE(client.connected()) << address;
  }
}

TEST(ListenTcpTest, RefusesAddressesItCannotBind) {
  EXPECT_EQ(ListenTcp("127.0.0.1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListenTcp("127.0.0.1:65536").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListenTcp("127.0.0.1:http").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListenTcp("no-such-host.invalid:0").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<ListenSocket> first = ListenTcp("127.0.0.1:0");
  ASSERT_TRUE(first.ok());
  absl::StatusOr<ListenSocket> second = ListenTcp(absl::StrCat("127.0.0.1:", first->port()));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(AcceptBackoffTest, DoublesFromTenMillisecondsToOneSecondAndResetsOnSuccess) {
  AcceptBackoff backoff("test_accept_failed");
  std::vector<absl::Duration> pauses;
  for (int i = 0; i < 9; ++i) pauses.push_back(backoff.OnFailure("Too many open files"));
  EXPECT_EQ(pauses.front(), absl::Milliseconds(10));
  EXPECT_EQ(pauses[1], absl::Milliseconds(20));
  EXPECT_EQ(pauses[6], absl::Milliseconds(640));
  EXPECT_EQ(pauses[7], absl::Seconds(1));
  EXPECT_EQ(pauses[8], absl::Seconds(1));
  backoff.OnSuccess();
  EXPECT_EQ(backoff.OnFailure("Too many open files"), absl::Milliseconds(10));
  EXPECT_EQ(backoff.failures(), 10);
}

class CollectingAcceptor {
 public:
  // An acceptor on 127.0.0.1:0 that hands its connections to Add.
  absl::StatusOr<std::unique_ptr<FdAcceptor>> Start() {
    absl::StatusOr<ListenSocket> socket = ListenTcp("127.0.0.1:0");
    if (!socket.ok()) return socket.status();
    return FdAcceptor::Start(*std::move(socket), "test_accept_failed", [this](int fd) { Add(fd); });
  }
  void Add(int fd) {
    MutexLock lock(&mu_);
    fds_.push_back(fd);
  }
  bool WaitFor(size_t count) {
    MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return fds_.size() >= count; };
    return mu_.AwaitWithTimeout(enough, absl::Seconds(10));
  }
  std::vector<int> fds() {
    MutexLock lock(&mu_);
    return fds_;
  }
  ~CollectingAcceptor() {
    for (int fd : fds_) ::close(fd);
  }

 private:
  Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
};

TEST(FdAcceptorTest, HandsEachConnectionOverNonBlocking) {
  CollectingAcceptor collected;
  absl::StatusOr<std::unique_ptr<FdAcceptor>> acceptor = collected.Start();
  ASSERT_TRUE(acceptor.ok()) << acceptor.status();
  const int port = (*acceptor)->port();
  EXPECT_GT(port, 0);
  RawHttpClient a(port), b(port), c(port);
  ASSERT_TRUE(collected.WaitFor(3));
  for (int fd : collected.fds()) {
    EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  }
  EXPECT_EQ((*acceptor)->AcceptFailures(), 0);
}

TEST(FdAcceptorTest, StopClosesTheListenerAndNoConnectionArrivesAfter) {
  CollectingAcceptor collected;
  absl::StatusOr<std::unique_ptr<FdAcceptor>> acceptor = collected.Start();
  ASSERT_TRUE(acceptor.ok()) << acceptor.status();
  const int port = (*acceptor)->port();
  EXPECT_GT(port, 0);
  RawHttpClient before(port);
  ASSERT_TRUE(collected.WaitFor(1));
  (*acceptor)->Stop();
  (*acceptor)->Stop();  // idempotent
  RawHttpClient after(port);
  EXPECT_FALSE(after.connected());
  EXPECT_EQ(collected.fds().size(), 1u);
}

}  // namespace
}  // namespace gateway
