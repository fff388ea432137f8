// Listening sockets and the accept loop the receivers share.
//
// gRPC 1.51's own listener gives up on a port for good after one failed
// accept4() such as EMFILE (grpc/grpc#16058, #20418): once the process has
// run out of descriptors, OTLP/gRPC would stay dead after the flood is gone.
// So the gateway accepts plaintext gRPC connections itself, as it does HTTP,
// and hands each to gRPC; both receivers back off the same way when accept
// fails.
//
//   absl::StatusOr<ListenSocket> socket = ListenTcp("127.0.0.1:0");
//   auto acceptor = FdAcceptor::Start(*std::move(socket), "grpc_accept_failed",
//                                     [](int fd) { /* owns fd */ });
#ifndef GATEWAY_RECEIVERS_TCP_LISTENER_H_
#define GATEWAY_RECEIVERS_TCP_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pipeline/base/logging.h"

namespace gateway {

// A bound, listening TCP socket; closes it unless released.
class ListenSocket final {
 public:
  ListenSocket() = default;
  ListenSocket(int fd, int family, int port) : fd_(fd), family_(family), port_(port) {}
  ListenSocket(ListenSocket&& other) noexcept;
  ListenSocket& operator=(ListenSocket&& other) noexcept;
  ListenSocket(const ListenSocket&) = delete;
  ListenSocket& operator=(const ListenSocket&) = delete;
  ~ListenSocket();

  int fd() const { return fd_; }
  int family() const { return family_; }  // AF_INET or AF_INET6
  int port() const { return port_; }      // the bound port (chosen by the kernel for :0)
  // The caller owns the descriptor from now on.
  int Release();

 private:
  int fd_ = -1;
  int family_ = 0;
  int port_ = 0;
};

// Binds and listens on "host:port": an IPv4 or bracketed IPv6 literal, a name
// (its first IPv4 address, else its first), or an empty host for every IPv4
// address. Port 0 picks
// a free port. SO_REUSEADDR but not SO_REUSEPORT: a second gateway on the
// same port fails to start.
absl::StatusOr<ListenSocket> ListenTcp(const std::string& address);

// How long to wait after an accept fails (EMFILE: every accept would fail at
// once, so retrying at once spins): 10 ms doubling to 1 s, back to zero after
// a success; at most one log line a second. One accepting thread at a time.
class AcceptBackoff final {
 public:
  explicit AcceptBackoff(std::string log_message) : log_message_(std::move(log_message)) {}

  // Counts and logs the failure; returns the pause before the next accept.
  absl::Duration OnFailure(std::string_view error);
  void OnSuccess() { delay_ = absl::ZeroDuration(); }
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  const std::string log_message_;
  absl::Duration delay_ = absl::ZeroDuration();
  LogRateLimiter log_{1};
  std::atomic<int64_t> failures_{0};
};

// Accepts connections on a thread of its own and hands each descriptor
// (non-blocking, close-on-exec, TCP_NODELAY) to `on_connection`, which owns
// it. Failed accepts back off as above.
class FdAcceptor final {
 public:
  using OnConnection = std::function<void(int fd)>;

  // `thread_name`: the accepting thread's, for `top -H` and `perf`.
  static absl::StatusOr<std::unique_ptr<FdAcceptor>> Start(ListenSocket socket, std::string failure_log_message,
                                                           OnConnection on_connection,
                                                           std::string thread_name = "accept");
  ~FdAcceptor();  // Stop()
  FdAcceptor(const FdAcceptor&) = delete;
  FdAcceptor& operator=(const FdAcceptor&) = delete;

  int port() const { return socket_.port(); }
  // Closes the listening socket; no `on_connection` call starts after this
  // returns. Idempotent.
  void Stop();
  int64_t AcceptFailures() const { return backoff_.failures(); }

 private:
  FdAcceptor(ListenSocket socket, int wake_fd, std::string failure_log_message, OnConnection on_connection);
  void Run();

  ListenSocket socket_;
  const int wake_fd_;  // eventfd: Stop() wakes the thread out of poll()
  const OnConnection on_connection_;
  AcceptBackoff backoff_;  // the acceptor thread's, but for failures()
  std::thread thread_;
  bool stopped_ = false;  // Stop()'s caller only
};

}  // namespace gateway

#endif  // GATEWAY_RECEIVERS_TCP_LISTENER_H_
