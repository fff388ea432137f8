// RedisFateStore against a real redis-server on 127.0.0.1: pipelined round
// trips, TTLs, AUTH (password and ACL user), TLS (certificate and name
// checked), a server killed and started again, a server that never answers.
#include "pipeline/reparent/redis_fate_store.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "pipeline/reparent/redis_connection.h"
#include "tests/fakes/redis_server_process.h"

namespace gateway {
namespace {

using testing::RedisServerOptions;
using testing::RedisServerProcess;

constexpr absl::Duration kTimeout = absl::Seconds(2);

TraceId Trace(uint8_t n) {
  TraceId t;
  t.bytes.fill(n);
  return t;
}
SpanId Span(uint8_t n) {
  SpanId s;
  s.bytes.fill(n);
  return s;
}
StoredFateKey Query(uint8_t n) { return StoredFateKey{Trace(n), Span(n)}; }

class RedisFateStoreTest : public ::testing::Test {
 protected:
  // The process ignores SIGPIPE (main.cc); a TLS write to a dead peer would
  // otherwise kill the test.
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  std::unique_ptr<RedisServerProcess> StartRedis(const RedisServerOptions& options = {}) {
    absl::StatusOr<std::unique_ptr<RedisServerProcess>> redis = RedisServerProcess::Start(options);
    EXPECT_TRUE(redis.ok()) << redis.status();
    return redis.ok() ? *std::move(redis) : nullptr;
  }

  std::unique_ptr<FateStore> NewStore(const RedisFateStoreOptions& options) {
    absl::StatusOr<std::unique_ptr<FateStore>> store = NewRedisFateStore(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static absl::Status Trip(FateStore& store, std::vector<StoredFate> publish, std::vector<StoredFateKey> lookup,
                           std::vector<std::optional<TraceId>>* found) {
    return store.RoundTrip(publish, absl::Minutes(10), lookup, kTimeout, found);
  }
};

TEST_F(RedisFateStoreTest, PublishesAndLooksUpInOnePipelinedRoundTrip) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisFateStoreOptions options;
  options.address = redis->address();
  auto store = NewStore(options);
  std::vector<std::optional<TraceId>> found;
  ASSERT_TRUE(Trip(*store, {{Query(1), Trace(9)}, {Query(2), Trace(2)}}, {}, &found).ok());
  EXPECT_TRUE(found.empty());
  // Published earlier, published in the same round trip (SET goes first), absent.
  ASSERT_TRUE(Trip(*store, {{Query(3), Trace(7)}}, {Query(1), Query(3), Query(2), Query(4)}, &found).ok());
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0], Trace(9));
  EXPECT_EQ(found[1], Trace(7));
  EXPECT_EQ(found[2], Trace(2));
  EXPECT_FALSE(found[3].has_value());
  EXPECT_EQ(store->Describe(), absl::StrCat("redis ", redis->address()));

  // The key layout and the TTL, read with a connection of our own.
  absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
      RedisConnection::Connect("127.0.0.1", redis->port(), nullptr, absl::Now() + kTimeout);
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::string request;
  const std::string key = absl::StrCat("otlpgw:fate:", Trace(1).Hex(), ":", Span(1).Hex());
  AppendRedisCommand({"GET", key}, &request);
  AppendRedisCommand({"PTTL", key}, &request);
  std::vector<RedisReply> replies;
  ASSERT_TRUE((*conn)->Exchange(request, 2, absl::Now() + kTimeout, &replies).ok());
  EXPECT_EQ(replies[0].text, Trace(9).Hex());
  EXPECT_GT(replies[1].integer, 9 * 60 * 1000);
  EXPECT_LE(replies[1].integer, 10 * 60 * 1000);
}

TEST_F(RedisFateStoreTest, SendsThePasswordAndReportsARefusal) {
  RedisServerOptions server;
  server.password = "correct horse";
  auto redis = StartRedis(server);
  ASSERT_NE(redis, nullptr);
  RedisFateStoreOptions options;
  options.address = redis->address();
  std::vector<std::optional<TraceId>> found;
  options.password = "wrong";
  absl::Status refused = Trip(*NewStore(options), {{Query(1), Trace(1)}}, {}, &found);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_FALSE(absl::StrContains(refused.message(), "wrong"));
  options.password = "";
  EXPECT_FALSE(Trip(*NewStore(options), {{Query(1), Trace(1)}}, {}, &found).ok());
  options.password = "correct horse";
  EXPECT_TRUE(Trip(*NewStore(options), {{Query(1), Trace(1)}}, {Query(1)}, &found).ok());
  EXPECT_EQ(found.at(0), Trace(1));
}

TEST_F(RedisFateStoreTest, AuthenticatesAsAnAclUserLimitedToItsKeys) {
  RedisServerOptions server;
  server.password = "admin-only";
  server.acl_user = "gateway";
  server.acl_password = "gw-pass";
  server.acl_key_pattern = "otlpgw:*";
  auto redis = StartRedis(server);
  ASSERT_NE(redis, nullptr);
  RedisFateStoreOptions options;
  options.address = redis->address();
  options.username = "gateway";
  options.password = "gw-pass";
  std::vector<std::optional<TraceId>> found;
  ASSERT_TRUE(Trip(*NewStore(options), {{Query(5), Trace(6)}}, {Query(5)}, &found).ok());
  EXPECT_EQ(found.at(0), Trace(6));
  // Outside its key pattern the user is refused: the round trip fails.
  options.key_prefix = "elsewhere:";
  absl::Status refused = Trip(*NewStore(options), {{Query(5), Trace(6)}}, {}, &found);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.message(), "NOPERM")) << refused;
}

TEST_F(RedisFateStoreTest, SpeaksTlsAndChecksTheCertificateAndName) {
  RedisServerOptions server;
  server.tls = true;
  auto redis = StartRedis(server);
  ASSERT_NE(redis, nullptr);
  RedisFateStoreOptions options;
  options.address = redis->address();
  options.tls.enabled = true;
  options.tls.ca_file = redis->ca_file();
  std::vector<std::optional<TraceId>> found;
  ASSERT_TRUE(Trip(*NewStore(options), {{Query(8), Trace(3)}}, {Query(8)}, &found).ok());
  EXPECT_EQ(found.at(0), Trace(3));
  // By name (localhost is in the certificate).
  options.address = absl::StrCat("localhost:", redis->port());
  EXPECT_TRUE(Trip(*NewStore(options), {}, {Query(8)}, &found).ok());
  // A name the certificate does not carry.
  options.tls.server_name = "cache.example.com";
  absl::Status wrong_name = Trip(*NewStore(options), {}, {Query(8)}, &found);
  EXPECT_EQ(wrong_name.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(wrong_name.message(), "certificate")) << wrong_name;
  // The system's trust store does not know the test CA.
  options.tls.server_name = "";
  options.tls.ca_file = "";
  EXPECT_FALSE(Trip(*NewStore(options), {}, {Query(8)}, &found).ok());
  // Plaintext to a TLS port fails (and does not hang).
  options.tls.enabled = false;
  EXPECT_FALSE(Trip(*NewStore(options), {}, {Query(8)}, &found).ok());
  // A missing CA file is an error at creation.
  options.tls.enabled = true;
  options.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(NewRedisFateStore(options).ok());
}

TEST_F(RedisFateStoreTest, FailsFastWhileTheServerIsDownAndReconnectsWhenItIsBack) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisFateStoreOptions options;
  options.address = redis->address();
  auto store = NewStore(options);
  std::vector<std::optional<TraceId>> found;
  ASSERT_TRUE(Trip(*store, {{Query(1), Trace(1)}}, {}, &found).ok());
  redis->Kill();
  const absl::Time start = absl::Now();
  EXPECT_EQ(Trip(*store, {}, {Query(1)}, &found).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Trip(*store, {}, {Query(1)}, &found).code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  ASSERT_TRUE(redis->Restart().ok());
  ASSERT_TRUE(Trip(*store, {}, {Query(1)}, &found).ok());
  EXPECT_FALSE(found.at(0).has_value());  // no persistence: the restarted server is empty
}

TEST_F(RedisFateStoreTest, AServerThatNeverAnswersTimesOut) {
  // A listening socket nobody reads: the connection is made, the reply never comes.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  RedisFateStoreOptions options;
  options.address = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  auto store = NewStore(options);
  std::vector<std::optional<TraceId>> found;
  const absl::Time start = absl::Now();
  const absl::Status status =
      store->RoundTrip({}, absl::Minutes(1), std::vector<StoredFateKey>{Query(1)}, absl::Milliseconds(200), &found);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(2));
  ::close(fd);
}

TEST_F(RedisFateStoreTest, RejectsMalformedAddresses) {
  for (const char* address : {"localhost", ":6379", "host:0", "host:99999", "::1:6379", "[::1:6379"}) {
    RedisFateStoreOptions options;
    options.address = address;
    EXPECT_FALSE(NewRedisFateStore(options).ok()) << address;
  }
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitRedisAddress("[::1]:6380", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 6380);
}

}  // namespace
}  // namespace gateway
