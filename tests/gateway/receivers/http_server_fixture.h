// The HTTP server's test fixture: a server on 127.0.0.1:0 in front of
// EchoHandler, a handler whose paths script what a test needs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/http_server.h"
#include "gtest/gtest.h"
#include "pipeline/base/sync.h"

namespace gateway::testing {

// Echoes the request; /slow blocks until released; /throw throws; /refuse is
// refused from its headers, and /held gets an admission handle there that
// Handle sees; /capped bodies are refused (503) once they have more than
// 64 KiB in memory; /wait waits for room (RoomWait) while room_ is false,
// and /pause pauses its body after its first part for the same reason
// (BodyRoomWait).
// Records the largest bytes_in_memory reported.
class EchoHandler final : public HttpHandler {
 public:
  absl::Duration RoomWait(const HttpRequest& request) override {
    if (request.path != "/wait" || room_.load()) return absl::ZeroDuration();
    return room_wait_;
  }
  bool HasRoom(const HttpRequest& request) override { return room_.load(); }
  absl::Duration BodyRoomWait(const HttpRequest& request, size_t bytes_in_memory, absl::Duration waited) override {
    if (request.path != "/pause" || room_.load() || waited >= room_wait_) return absl::ZeroDuration();
    return room_wait_ - waited;
  }
  bool HasRoomForBody(const HttpRequest& request, size_t bytes_in_memory) override { return room_.load(); }
  void RoomWaitEnded(bool room, absl::Duration waited) override {
    (room ? waits_with_room_ : waits_without_room_).fetch_add(1);
  }

  std::optional<HttpResponse> OnHeaders(HttpRequest* request) override {
    header_calls_.fetch_add(1);
    if (!request->body.empty()) return HttpResponse{500, "text/plain", "body before OnHeaders\n", {}};
    if (request->path == "/refuse") return HttpResponse{401, "text/plain", "refused from the headers\n", {}};
    if (request->path == "/held") request->admission = std::make_shared<int>(7);
    return std::nullopt;
  }

  std::optional<HttpResponse> OnBodyProgress(HttpRequest* request, size_t bytes_in_memory) override {
    progress_calls_.fetch_add(1);
    size_t seen = max_in_memory_.load();
    while (bytes_in_memory > seen && !max_in_memory_.compare_exchange_weak(seen, bytes_in_memory)) {
    }
    if (request->path == "/capped" && bytes_in_memory > (64 << 10)) {
      return HttpResponse{503, "text/plain", "no room\n", {{"Retry-After", "1"}}};
    }
    return std::nullopt;
  }

  HttpResponse Handle(HttpRequest request) override {
    calls_.fetch_add(1);
    if (request.path == "/held" && (request.admission == nullptr || *static_cast<int*>(request.admission.get()) != 7)) {
      return HttpResponse{500, "text/plain", "admission lost\n", {}};
    }
    if (request.path == "/slow") {
      slow_entered_.Notify();
      release_.WaitForNotificationWithTimeout(absl::Seconds(20));
    }
    if (request.path == "/throw") throw std::runtime_error("boom");
    HttpResponse response;
    response.body = absl::StrCat(request.method, " ", request.path, "?", request.query, " [",
                                 request.Header("x-test"), "] ", request.body);
    response.headers.emplace_back("X-Echo", "yes");
    return response;
  }

  std::atomic<int> calls_{0};
  std::atomic<int> header_calls_{0};
  std::atomic<int> progress_calls_{0};
  std::atomic<size_t> max_in_memory_{0};
  std::atomic<bool> room_{true};
  absl::Duration room_wait_ = absl::Seconds(30);  // set before Start
  std::atomic<int> waits_with_room_{0};
  std::atomic<int> waits_without_room_{0};
  Notification slow_entered_;
  Notification release_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}) {
    options.listen_address = "127.0.0.1:0";
    if (options.threads == 0) options.threads = 2;
    auto server = StartHttpServer(options, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  void TearDown() override {
    if (!handler_.release_.HasBeenNotified()) handler_.release_.Notify();
    if (server_) server_->Shutdown();
  }

  static std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
    return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: t\r\n", extra, "Content-Length: ", body.size(),
                        "\r\n\r\n", body);
  }

  // Until `n` requests wait for room (bounded; the server has no event for it).
  bool WaitUntilWaitingForRoom(int64_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (server_->WaitingForRoom() != n) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  // Until `n` waits for room have ended without room (bounded).
  bool WaitUntilWaitsTimedOut(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (handler_.waits_without_room_.load() < n) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  EchoHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace gateway::testing
