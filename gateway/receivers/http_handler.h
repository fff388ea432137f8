// The seam between the HTTP server (Boost.Beast) and what answers requests:
// the OTLP/HTTP receiver and the admin endpoints.
//
//   class Healthz final : public HttpHandler {
//     HttpResponse Handle(HttpRequest r) override { return {200, "text/plain", "ok\n"}; }
//   };
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace gateway {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;   // after '?', may be empty
  // Header names lower-cased, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body as received (still compressed when Content-Encoding says so).
  std::string body;
  std::string remote_address;
  // Set by HttpHandler::OnHeaders (e.g. the body's bytes held against a
  // memory budget); kept by the server until Handle has the request.
  std::shared_ptr<void> admission;

  // First value of header `lower_name`, or "" if absent.
  const std::string& Header(const std::string& lower_name) const {
    static const std::string kEmpty;
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return kEmpty;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;

  // Called on the I/O thread once the request line and headers are in,
  // before the body is read (`request->body` is empty). A response refuses
  // the request without reading its body (the connection closes after it):
  // a wrong path, a missing token or no memory for the body costs the
  // gateway the headers only. nullopt reads the body and calls Handle with
  // the same request (and its `admission`). Default: go on.
  virtual std::optional<HttpResponse> OnHeaders(HttpRequest* request) { return std::nullopt; }

  // Called on the I/O thread once the request line and headers are in,
  // before OnHeaders. Non-zero: the handler has no room for the body now,
  // room comes back by itself (as exports finish), and the request may wait
  // for it this long, its body unread (room_wait_queue.h); OnHeaders is
  // called once HasRoom says yes or the time is up. Default: never wait.
  virtual absl::Duration RoomWait(const HttpRequest& request) { return absl::ZeroDuration(); }
  // Whether a waiting request may go on. Called on its I/O thread, about
  // once a millisecond while it waits first in line.
  virtual bool HasRoom(const HttpRequest& request) { return true; }
  // How a wait ended: room came, or not (the time ran out, the server is
  // stopping); how long it took. On the I/O thread, before OnHeaders (or,
  // for a paused body, OnBodyProgress).
  virtual void RoomWaitEnded(bool room, absl::Duration waited) {}

  // Called on the I/O thread while the body is read, after each read that
  // left it incomplete, with the bytes the request now has in memory (the
  // body so far and the connection's read buffer, as allocated). A response
  // stops reading (the connection closes after it): e.g. when the memory
  // budget has no room for what arrives. Default: go on.
  virtual std::optional<HttpResponse> OnBodyProgress(HttpRequest* request, size_t bytes_in_memory) {
    return std::nullopt;
  }

  // Called on the I/O thread before each OnBodyProgress, with the same
  // bytes. Non-zero: the handler has no room for what the body now holds,
  // room comes back by itself, and reading may pause this long for it (the
  // rest of the body stays in the socket); OnBodyProgress is called once
  // HasRoomForBody says yes or the time is up (RoomWaitEnded first).
  // `waited`: how long this request has already waited for room. Default:
  // never pause.
  virtual absl::Duration BodyRoomWait(const HttpRequest& request, size_t bytes_in_memory, absl::Duration waited) {
    return absl::ZeroDuration();
  }
  // Whether a paused body may be read on. Called on its I/O thread, about
  // once a millisecond while it waits first in line.
  virtual bool HasRoomForBody(const HttpRequest& request, size_t bytes_in_memory) { return true; }

  // Called from server I/O threads, concurrently. Must not block on network
  // I/O. The OTLP handler waits for the persistent queue's fdatasync when
  // there is one (Ingest::Accept), which holds up the other connections of
  // that I/O thread for as long: size `receivers.http.threads` for it.
  // The request is the handler's: it may keep parts of it (the body)
  // without a copy.
  virtual HttpResponse Handle(HttpRequest request) = 0;
};

}  // namespace gateway
