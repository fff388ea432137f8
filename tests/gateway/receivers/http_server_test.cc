#include "gateway/receivers/http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "pipeline/base/sync.h"
#include "tests/gateway/receivers/http_server_fixture.h"
#include "tests/gateway/receivers/http_test_client.h"

namespace gateway {
namespace {

using testing::EchoHandler;
using testing::HttpServerTest;
using testing::RawHttpClient;
using testing::RawHttpResponse;

TEST_F(HttpServerTest, RequestReachesTheHandlerAndItsResponseIsWritten) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Post("/v1/x?a=b", "hello", "X-Test: 42\r\n")));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /v1/x?a=b [42] hello");
  EXPECT_EQ(r.Header("x-echo"), "yes");
  EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/one", "1")));
  EXPECT_EQ(client.ReadResponse().body, "POST /one? [] 1");
  ASSERT_TRUE(client.Send(Post("/two", "22")));
  EXPECT_EQ(client.ReadResponse().body, "POST /two? [] 22");
  // Pipelined: both requests in one write.
  ASSERT_TRUE(client.Send(Post("/three", "3") + Post("/four", "4")));
  EXPECT_EQ(client.ReadResponse().body, "POST /three? [] 3");
  EXPECT_EQ(client.ReadResponse().body, "POST /four? [] 4");
  EXPECT_EQ(handler_.calls_.load(), 4);
}

TEST_F(HttpServerTest, ChunkedBodyIsReassembled) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nhello\r\n"));
  ASSERT_TRUE(client.Send("7\r\n, world\r\n0\r\n\r\n"));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /c? [] hello, world");
}

TEST_F(HttpServerTest, ContentLengthOverTheLimitIs413WithoutReadingTheBody) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  Start(options);
  RawHttpClient client(server_->port());
  // Announce 100 MB but send none of it: the answer must come anyway.
  ASSERT_TRUE(client.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(handler_.calls_.load(), 0);
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
}

TEST_F(HttpServerTest, HandlerRefusesFromTheHeadersWithoutTheBodyBeingRead) {
  Start();
  RawHttpClient client(server_->port());
  // 1 MB announced (within the limit) and never sent: the refusal must come
  // anyway.
  ASSERT_TRUE(client.Send("POST /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "refused from the headers\n");
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(handler_.calls_.load(), 0);
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
}

TEST_F(HttpServerTest, WhatOnHeadersSetsReachesHandle) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/held", "body", "X-Test: h\r\n")));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /held? [h] body");
  EXPECT_EQ(handler_.header_calls_.load(), 1);
}

TEST_F(HttpServerTest, ConnectionsPastTheCapAreClosedAtOnce) {
  HttpServerOptions options;
  options.max_connections = 2;
  Start(options);
  RawHttpClient first(server_->port());
  RawHttpClient second(server_->port());
  // Both served, so both are open sessions before the third arrives.
  ASSERT_TRUE(first.Send(Post("/a", "")));
  ASSERT_EQ(first.ReadResponse().status, 200);
  ASSERT_TRUE(second.Send(Post("/b", "")));
  ASSERT_EQ(second.ReadResponse().status, 200);
  RawHttpClient third(server_->port());
  EXPECT_TRUE(third.WaitForClose(absl::Seconds(10)));
  EXPECT_EQ(server_->RefusedConnections(), 1);
  // A freed slot is taken again. The server counts the session gone once the
  // close has reached it: bounded retries.
  first.Close();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    RawHttpClient again(server_->port());
    served = again.Send(Post("/c", "")) && again.ReadResponse(absl::Seconds(1)).status == 200;
    if (!served) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  Start(options);
  RawHttpClient client(server_->port());
  std::string chunk(600, 'x');
  ASSERT_TRUE(client.Send(absl::StrCat("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                                       "258\r\n", chunk, "\r\n", "258\r\n", chunk, "\r\n")));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(handler_.calls_.load(), 0);
}

TEST_F(HttpServerTest, BodyExactlyAtTheLimitIsAccepted) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  Start(options);
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/ok", std::string(1000, 'y'))));
  EXPECT_EQ(client.ReadResponse().status, 200);
}

TEST_F(HttpServerTest, OversizedHeadersAre431) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  Start(options);
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(absl::StrCat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", std::string(4000, 'h'), "\r\n\r\n")));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(handler_.calls_.load(), 0);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("THIS IS NOT HTTP\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().status, 400);
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/throw", "")));
  EXPECT_EQ(client.ReadResponse().status, 500);
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimResponse) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().status, 100);
  ASSERT_TRUE(client.Send("abc"));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /e? [] abc");
}

TEST_F(HttpServerTest, SlowLorisClientDoesNotBlockOthers) {
  HttpServerOptions options;
  options.threads = 1;
  Start(options);
  RawHttpClient loris(server_->port());
  ASSERT_TRUE(loris.Send("POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-"));
  for (int i = 0; i < 3; ++i) {
    RawHttpClient other(server_->port());
    ASSERT_TRUE(other.Send(Post("/fast", "x")));
    EXPECT_EQ(other.ReadResponse().status, 200);
  }
}

TEST_F(HttpServerTest, StalledRequestIsDisconnectedAfterTheReadTimeout) {
  HttpServerOptions options;
  options.read_timeout = absl::Milliseconds(200);
  Start(options);
  RawHttpClient loris(server_->port());
  ASSERT_TRUE(loris.Send("POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_TRUE(loris.WaitForClose(absl::Seconds(10)));
  EXPECT_EQ(handler_.calls_.load(), 0);
}

TEST_F(HttpServerTest, AnnouncedBodyIsNotAllocatedBeforeItArrives) {
  HttpServerOptions options;
  options.max_body_bytes = size_t{16} << 20;
  Start(options);
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 16777216\r\n\r\n"));
  const std::string piece(1000, 'x');
  for (int i = 0; i < 3; ++i) {
    const int before = handler_.progress_calls_.load();
    ASSERT_TRUE(client.Send(piece));
    for (int spin = 0; spin < 1000 && handler_.progress_calls_.load() == before; ++spin) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  ASSERT_GT(handler_.progress_calls_.load(), 0);
  // 3 KB received of 16 MiB announced: the request holds kilobytes.
  EXPECT_LT(handler_.max_in_memory_.load(), size_t{64} << 10);
}

TEST_F(HttpServerTest, BodyRefusedAsItGrowsGetsTheHandlersAnswer) {
  HttpServerOptions options;
  options.max_body_bytes = size_t{16} << 20;
  Start(options);
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /capped HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n"));
  const std::string piece(16 << 10, 'x');
  // 256 KiB of the 4 MiB: the answer comes before the body is complete (and
  // within what the server drains after answering, so no reset loses it).
  for (int i = 0; i < 16; ++i) {
    if (!client.Send(piece)) break;
  }
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(handler_.calls_.load(), 0);
  EXPECT_GT(handler_.max_in_memory_.load(), size_t{64} << 10);
  EXPECT_LT(handler_.max_in_memory_.load(), size_t{4} << 20);
}

TEST_F(HttpServerTest, BodyTrickledBelowTheMinimumRateIsCutOffAfterTheGrace) {
  HttpServerOptions options;
  options.min_body_bytes_per_second = 1000;
  options.body_rate_grace = absl::Milliseconds(300);
  Start(options);
  RawHttpClient loris(server_->port());
  ASSERT_TRUE(loris.Send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nabc"));
  // A client at the minimum rate is still served meanwhile.
  RawHttpClient other(server_->port());
  ASSERT_TRUE(other.Send(Post("/b", std::string(50, 'y'))));
  EXPECT_EQ(other.ReadResponse().status, 200);
  EXPECT_TRUE(loris.WaitForClose(absl::Seconds(10)));
  // The stream's timer closes the socket before the read's completion runs
  // and counts it: the count follows the close, shortly.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server_->SlowBodies() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  EXPECT_EQ(server_->SlowBodies(), 1);
  EXPECT_EQ(handler_.calls_.load(), 1);
}

TEST_F(HttpServerTest, BodyAtTheMinimumRateIsNotCutOff) {
  HttpServerOptions options;
  options.min_body_bytes_per_second = 1000;
  options.body_rate_grace = absl::Milliseconds(200);
  Start(options);
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n"));
  // 2000 bytes in ~0.8 s (2,500 B/s): past the grace, above the minimum.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(client.Send(std::string(250, 'z')));
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(client.ReadResponse().status, 200);
  EXPECT_EQ(server_->SlowBodies(), 0);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  Start(options);
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/a", "")));
  EXPECT_EQ(client.ReadResponse().status, 200);
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
}

TEST_F(HttpServerTest, OtherConnectionsAreServedWhileOneHandlerIsSlow) {
  HttpServerOptions options;
  options.threads = 2;
  Start(options);
  RawHttpClient slow(server_->port());
  ASSERT_TRUE(slow.Send(Post("/slow", "")));
  ASSERT_TRUE(handler_.slow_entered_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // Connections are spread round-robin over the I/O threads: the next one
  // lands on the thread that is not busy.
  RawHttpClient fast(server_->port());
  ASSERT_TRUE(fast.Send(Post("/fast", "1")));
  EXPECT_EQ(fast.ReadResponse().status, 200);
  ASSERT_TRUE(fast.Send(Post("/fast", "2")));
  EXPECT_EQ(fast.ReadResponse().status, 200);
  handler_.release_.Notify();
  EXPECT_EQ(slow.ReadResponse().status, 200);
}

TEST_F(HttpServerTest, ShutdownClosesIdleConnectionsPromptly) {
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/a", "")));
  EXPECT_EQ(client.ReadResponse().status, 200);
  const absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
  RawHttpClient late(server_->port());
  EXPECT_FALSE(late.connected());
}

TEST_F(HttpServerTest, ShutdownLetsARequestInFlightFinish) {
  Start();
  RawHttpClient slow(server_->port());
  ASSERT_TRUE(slow.Send(Post("/slow", "")));
  ASSERT_TRUE(handler_.slow_entered_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const int port = server_->port();
  std::thread stopper([this] { server_->Shutdown(); });
  // Release the handler only once shutdown has begun (the listener refuses
  // connections), or the answer may be written first, as keep-alive.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (int i = 0; i < 10000 && absl::Now() < deadline; ++i) {
    RawHttpClient probe(port);
    if (!probe.connected()) break;
  }
  handler_.release_.Notify();
  RawHttpResponse r = slow.ReadResponse();
  stopper.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("connection"), "close");
}

TEST_F(HttpServerTest, StartFailsOnAnAddressInUse) {
  Start();
  HttpServerOptions options;
  options.listen_address = absl::StrCat("127.0.0.1:", server_->port());
  EchoHandler other;
  EXPECT_FALSE(StartHttpServer(options, other).ok());
  options.listen_address = "not an address";
  EXPECT_FALSE(StartHttpServer(options, other).ok());
}

// Connections reset right after connect end before the accepting thread has
// returned from handing them to their I/O thread. Each session must still be
// destroyed on its own I/O thread, the only one that touches that thread's
// session table (under TSan, destroying it on the accepting thread was
// reported as a race on the table).
TEST_F(HttpServerTest, ConnectionsResetAtOnceAreServedAndEndOnTheirOwnThread) {
  HttpServerOptions options;
  options.threads = 3;
  Start(options);
  const int port = server_->port();
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([port] {
      for (int i = 0; i < 500; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) continue;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
          const linger reset{1, 0};  // close() sends RST: the server's first read fails at once
          ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        }
        ::close(fd);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  RawHttpClient client(port);
  ASSERT_TRUE(client.Send(Post("/after", "ok")));
  EXPECT_EQ(client.ReadResponse().body, "POST /after? [] ok");
}

}  // namespace
}  // namespace gateway
