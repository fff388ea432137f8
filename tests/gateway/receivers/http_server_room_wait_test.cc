// The HTTP server's waits for room: a request whose headers find no room
// waits with its body unread, a body that outgrows the room pauses, and
// neither counts against the request's read deadline.
#include <string>

#include "absl/time/clock.h"
#include "gateway/receivers/http_server.h"
#include "gtest/gtest.h"
#include "tests/gateway/receivers/http_server_fixture.h"
#include "tests/gateway/receivers/http_test_client.h"

namespace gateway {
namespace {

using testing::HttpServerTest;
using testing::RawHttpClient;
using testing::RawHttpResponse;

TEST_F(HttpServerTest, ARequestWithoutRoomWaitsWithItsBodyUnreadUntilThereIsRoom) {
  handler_.room_ = false;
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/wait", "body")));
  ASSERT_TRUE(WaitUntilWaitingForRoom(1));
  EXPECT_EQ(handler_.header_calls_.load(), 0);
  EXPECT_EQ(handler_.calls_.load(), 0);
  // Another connection is served meanwhile.
  RawHttpClient other(server_->port());
  ASSERT_TRUE(other.Send(Post("/a", "x")));
  EXPECT_EQ(other.ReadResponse().status, 200);

  handler_.room_ = true;
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /wait? [] body");
  EXPECT_EQ(handler_.waits_with_room_.load(), 1);
  EXPECT_EQ(handler_.waits_without_room_.load(), 0);
  EXPECT_EQ(server_->WaitingForRoom(), 0);
  // The connection stays usable.
  ASSERT_TRUE(client.Send(Post("/wait", "again")));
  EXPECT_EQ(client.ReadResponse().body, "POST /wait? [] again");
}

TEST_F(HttpServerTest, AWaitForRoomEndsWhenItsTimeIsUpAndTheHandlerDecides) {
  handler_.room_ = false;
  handler_.room_wait_ = absl::Milliseconds(50);
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/wait", "body")));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);  // this handler's OnHeaders lets it in
  EXPECT_EQ(handler_.waits_without_room_.load(), 1);
  EXPECT_EQ(handler_.header_calls_.load(), 1);
}

TEST_F(HttpServerTest, TheWaitForRoomDoesNotCountAgainstTheReadTimeout) {
  handler_.room_ = false;
  // After the wait the read deadline is a full read_timeout away, time
  // enough for the client to send the body on a loaded machine.
  handler_.room_wait_ = absl::Milliseconds(1500);
  HttpServerOptions options;
  options.read_timeout = absl::Seconds(1);
  Start(options);
  RawHttpClient client(server_->port());
  // The headers, then the body only once the wait has ended, after the
  // read_timeout counted from the first byte.
  ASSERT_TRUE(client.Send("POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n"));
  ASSERT_TRUE(WaitUntilWaitsTimedOut(1));
  EXPECT_EQ(handler_.waits_without_room_.load(), 1);
  ASSERT_TRUE(client.Send("body"));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /wait? [] body");
}

TEST_F(HttpServerTest, ABodyThatOutgrowsTheRoomPausesUntilThereIsRoom) {
  handler_.room_ = false;
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /pause HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nfirst"));
  ASSERT_TRUE(WaitUntilWaitingForRoom(1));
  const int progress = handler_.progress_calls_.load();
  // The rest arrives; reading stays paused.
  ASSERT_TRUE(client.Send("-last"));
  RawHttpClient other(server_->port());
  ASSERT_TRUE(other.Send(Post("/a", "x")));
  EXPECT_EQ(other.ReadResponse().status, 200);
  EXPECT_EQ(handler_.progress_calls_.load(), progress);
  EXPECT_EQ(handler_.calls_.load(), 1);  // /a only

  handler_.room_ = true;
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /pause? [] first-last");
  EXPECT_EQ(handler_.waits_with_room_.load(), 1);
  EXPECT_EQ(server_->WaitingForRoom(), 0);
}

TEST_F(HttpServerTest, APausedBodyGoesToTheHandlerWhenItsTimeIsUp) {
  handler_.room_ = false;
  handler_.room_wait_ = absl::Milliseconds(50);
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /pause HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nfirst"));
  ASSERT_TRUE(WaitUntilWaitsTimedOut(1));
  // Its wait used up, it does not pause again: OnBodyProgress decides (this
  // handler lets it in).
  ASSERT_TRUE(client.Send("-last"));
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /pause? [] first-last");
  EXPECT_EQ(handler_.waits_without_room_.load(), 1);
}

TEST_F(HttpServerTest, ShutdownEndsTheWaitsForRoom) {
  handler_.room_ = false;
  Start();
  RawHttpClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/wait", "body")));
  ASSERT_TRUE(WaitUntilWaitingForRoom(1));
  const absl::Time start = absl::Now();
  server_->Shutdown();
  RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // not the 30 s wait
  EXPECT_EQ(handler_.waits_without_room_.load(), 1);
}

}  // namespace
}  // namespace gateway
