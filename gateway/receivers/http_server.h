// A generic HTTP/1.1 server on Boost.Beast: one io_context per I/O thread,
// keep-alive, Content-Length and chunked request bodies, size limits, read
// deadlines against slow clients and optional TLS. Complete requests go to an
// HttpHandler (gateway/receivers/http_handler.h) on the connection's I/O thread.
//
//   HttpServerOptions options;
//   options.listen_address = "127.0.0.1:0";
//   absl::StatusOr<std::unique_ptr<HttpServer>> server = StartHttpServer(options, handler);
//   int port = (*server)->port();
//   ...
//   (*server)->Shutdown();
//
// Answers the server gives by itself, before the handler sees anything:
// 400 for a malformed request, 413 when the body passes max_body_bytes (as
// soon as Content-Length or the chunks say so, without reading the rest),
// 431 when the request line and headers pass max_header_bytes, 500 when the
// handler throws. Those close the connection. A connection past
// max_connections is closed as soon as it is accepted; when accepting fails
// (EMFILE: out of file descriptors) the server waits 10 ms, doubling to 1 s,
// before it tries again, and logs at most one line a second. A body is read
// in steps and grows as it arrives (the handler sees each step through
// OnBodyProgress), not allocated whole from its Content-Length; one that
// arrives slower than min_body_bytes_per_second is cut off. A request the
// handler has no room for yet (HttpHandler::RoomWait) waits on its I/O
// thread, body unread, oldest first (room_wait_queue.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/receivers/http_handler.h"

namespace gateway {

struct HttpServerOptions {
  // host:port; port 0 picks a free port (see HttpServer::port()). IPv6 hosts
  // in brackets: "[::]:4318".
  std::string listen_address = "0.0.0.0:4318";
  // I/O threads, each with its own io_context; 0 means one per CPU the
  // process may use (UsableCpus, pipeline/base/cgroup.h).
  int threads = 0;
  // Its threads' names (`top -H`, `perf`): `<thread_name>-<i>` for the I/O
  // threads, `<thread_name>-accept` for the acceptor; Linux keeps 15 bytes,
  // so at most 8 here.
  std::string thread_name = "http";
  // Open connections at most; 0: no cap.
  int max_connections = 1024;
  // Largest request body as received (before any decompression).
  size_t max_body_bytes = size_t{4} << 20;
  // Largest request line plus headers.
  size_t max_header_bytes = size_t{16} << 10;
  // Deadline for reading one request, headers and body, from its first byte;
  // a wait for the handler's room (HttpHandler::RoomWait) does not count.
  absl::Duration read_timeout = absl::Seconds(30);
  // A body must arrive at this rate on average once body_rate_grace has
  // passed since its first byte was awaited, or the connection is closed:
  // a client that trickles a body cannot hold a connection (and its slot
  // under max_connections) for the whole read_timeout. 0: no minimum.
  int64_t min_body_bytes_per_second = 1024;
  absl::Duration body_rate_grace = absl::Seconds(5);
  // How long a keep-alive connection may sit without a new request.
  absl::Duration idle_timeout = absl::Seconds(60);
  // Deadline for writing one response.
  absl::Duration write_timeout = absl::Seconds(30);
  // Shutdown() lets requests in flight finish for this long.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // PEM files; HTTPS when both are set, plain HTTP when both are empty.
  std::string tls_cert_path;
  std::string tls_key_path;
};

class HttpServer final {
 public:
  class Impl;

  explicit HttpServer(std::unique_ptr<Impl> impl);
  ~HttpServer();  // Shutdown() if not shut down yet.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port.
  int port() const;
  // Connections closed at once for max_connections; accepts that failed.
  int64_t RefusedConnections() const;
  int64_t AcceptFailures() const;
  // Connections closed because a body arrived slower than
  // min_body_bytes_per_second.
  int64_t SlowBodies() const;
  // Requests waiting now, their bodies unread, for the handler's room
  // (HttpHandler::RoomWait).
  int64_t WaitingForRoom() const;

  // Stops accepting, closes idle connections, lets requests in flight finish
  // (up to shutdown_grace; their connections close after the response), then
  // stops the I/O threads. Idempotent; not from an I/O thread (a handler).
  void Shutdown();

 private:
  std::unique_ptr<Impl> impl_;
};

// Binds, listens and starts the I/O threads. `handler` must outlive the
// server. InvalidArgument for bad options, Unavailable when the address
// cannot be bound, NotFound / InvalidArgument for unreadable TLS files.
absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options,
                                                           HttpHandler& handler);

}  // namespace gateway
