#include "gateway/receivers/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/receivers/http_session.h"
#include "gateway/receivers/http_worker.h"
#include "gateway/receivers/room_wait_queue.h"
#include "gateway/receivers/tcp_listener.h"
#include "gateway/receivers/tls_server_context.h"
#include "pipeline/base/cgroup.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/sync.h"
#include "pipeline/base/thread_name.h"

namespace gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using http_server_internal::Session;
using http_server_internal::SessionBase;
using http_server_internal::ToSteady;
using http_server_internal::Worker;

class HttpServer::Impl final : public http_server_internal::SessionHost {
 public:
  Impl(const HttpServerOptions& options, HttpHandler& handler) : options_(options), handler_(handler) {}

  absl::Status Start();
  void Shutdown();
  int port() const { return port_; }

  const HttpServerOptions& options() const override { return options_; }
  HttpHandler& handler() override { return handler_; }
  bool stopping() const override { return stopping_.load(std::memory_order_acquire); }
  ~Impl() override { Shutdown(); }
  void SessionStarted() override {
    MutexLock lock(&mu_);
    ++live_sessions_;
  }
  void SessionEnded() override {
    MutexLock lock(&mu_);
    --live_sessions_;
  }
  int LiveSessions() {
    MutexLock lock(&mu_);
    return live_sessions_;
  }
  int64_t RefusedConnections() const { return refused_connections_.load(std::memory_order_relaxed); }
  int64_t AcceptFailures() const { return accept_backoff_.failures(); }
  int64_t SlowBodies() const { return slow_bodies_.load(std::memory_order_relaxed); }
  int64_t WaitingForRoom() const { return waiting_for_room_.load(std::memory_order_relaxed); }
  void RoomWaitStarted() override { waiting_for_room_.fetch_add(1, std::memory_order_relaxed); }
  void RoomWaitEnded() override { waiting_for_room_.fetch_sub(1, std::memory_order_relaxed); }
  // A body was cut off for arriving too slowly; logs at most a line a second.
  void NoteSlowBody(const std::string& remote, size_t bytes) override {
    slow_bodies_.fetch_add(1, std::memory_order_relaxed);
    if (int64_t suppressed = 0; slow_body_log_.Allow(&suppressed)) {
      LogWarn("http_body_too_slow", {{"remote", remote}, {"bytes_received", absl::StrCat(bytes)},
                                     {"min_bytes_per_second", absl::StrCat(options_.min_body_bytes_per_second)},
                                     {"suppressed", absl::StrCat(suppressed)}});
    }
  }

 private:
  void Accept();
  std::vector<Worker*> AllWorkers() {
    std::vector<Worker*> all;
    for (auto& w : workers_) all.push_back(w.get());
    if (accept_worker_) all.push_back(accept_worker_.get());
    return all;
  }
  template <class Session, class... Args>
  void Launch(Worker& worker, Args&&... args);

  const HttpServerOptions options_;
  HttpHandler& handler_;
  std::optional<asio::ssl::context> ssl_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // The acceptor has a thread of its own so that a busy handler on an I/O
  // thread never delays accepting connections for the other threads.
  std::unique_ptr<Worker> accept_worker_;
  std::optional<tcp::acceptor> acceptor_;
  size_t next_worker_ = 0;  // acceptor's thread only
  // The pause before the next accept after a failure; acceptor's thread.
  AcceptBackoff accept_backoff_{"http_accept_failed"};
  std::optional<asio::steady_timer> accept_timer_;
  LogRateLimiter refused_log_{1};
  std::atomic<int64_t> refused_connections_{0};
  LogRateLimiter slow_body_log_{1};
  std::atomic<int64_t> slow_bodies_{0};
  std::atomic<int64_t> waiting_for_room_{0};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool shut_down_ = false;

  Mutex mu_;
  int live_sessions_ ABSL_GUARDED_BY(mu_) = 0;
};

template <class SessionT, class... Args>
void HttpServer::Impl::Launch(Worker& worker, Args&&... args) {
  auto session = std::make_shared<SessionT>(*this, worker, std::forward<Args>(args)...);
  // Moved, not copied: if this thread kept a reference, a session that ends
  // on its worker before this returns would be destroyed here, erasing
  // itself from the worker's `sessions` on the wrong thread.
  asio::post(worker.ioc, [session = std::move(session)] { session->Start(); });
}

void HttpServer::Impl::Accept() {
  Worker& target = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(target.ioc, [this, &target](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
    if (ec) {
      // EMFILE and friends: every accept would fail at once, so wait before
      // the next instead of spinning.
      const absl::Duration pause = accept_backoff_.OnFailure(ec.message());
      if (!accept_timer_) accept_timer_.emplace(accept_worker_->ioc);
      accept_timer_->expires_after(ToSteady(pause));
      accept_timer_->async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec && acceptor_ && acceptor_->is_open()) Accept();
      });
      return;
    }
    accept_backoff_.OnSuccess();
    if (options_.max_connections > 0 && LiveSessions() >= options_.max_connections) {
      // Closed at once: an open connection costs a descriptor and buffers.
      refused_connections_.fetch_add(1, std::memory_order_relaxed);
      if (int64_t suppressed = 0; refused_log_.Allow(&suppressed)) {
        LogWarn("http_connection_refused", {{"reason", "max_connections"},
                                            {"max_connections", absl::StrCat(options_.max_connections)},
                                            {"suppressed", absl::StrCat(suppressed)}});
      }
      beast::error_code ignored;
      socket.close(ignored);
      return Accept();
    }
    beast::error_code ep_ec;
    tcp::endpoint remote = socket.remote_endpoint(ep_ec);
    std::string remote_text = ep_ec ? std::string() : absl::StrCat(remote.address().to_string(), ":", remote.port());
    socket.set_option(tcp::no_delay(true), ep_ec);
    if (ssl_.has_value()) {
      Launch<Session<beast::ssl_stream<beast::tcp_stream>>>(target, std::move(remote_text), std::move(socket), *ssl_);
    } else {
      Launch<Session<beast::tcp_stream>>(target, std::move(remote_text), std::move(socket));
    }
    Accept();
  });
}

absl::Status HttpServer::Impl::Start() {
  if (options_.max_header_bytes == 0 || options_.max_body_bytes == 0) {
    return absl::InvalidArgumentError("http size limits must be positive");
  }
  if (options_.min_body_bytes_per_second < 0) {
    return absl::InvalidArgumentError("http minimum body rate must not be negative");
  }
  if (options_.tls_cert_path.empty() != options_.tls_key_path.empty()) {
    return absl::InvalidArgumentError("http TLS needs both a certificate and a key");
  }
  absl::StatusOr<ListenSocket> socket = ListenTcp(options_.listen_address);
  if (!socket.ok()) {
    return absl::Status(socket.status().code(), absl::StrCat("cannot listen for HTTP on ", options_.listen_address,
                                                             ": ", socket.status().message()));
  }

  if (!options_.tls_cert_path.empty()) {
    absl::StatusOr<asio::ssl::context> ssl = NewTlsServerContext(options_.tls_cert_path, options_.tls_key_path);
    if (!ssl.ok()) return ssl.status();
    ssl_.emplace(*std::move(ssl));
  }

  int threads = options_.threads > 0 ? options_.threads : UsableCpus();
  threads = std::max(threads, 1);
  for (int i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    Worker& w = *workers_.back();
    w.room_waits.emplace(w.ioc, RoomWaitOptions{});
  }

  accept_worker_ = std::make_unique<Worker>();
  beast::error_code ec;
  acceptor_.emplace(accept_worker_->ioc);
  port_ = socket->port();
  const tcp protocol = socket->family() == AF_INET6 ? tcp::v6() : tcp::v4();
  const int fd = socket->Release();
  acceptor_->assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("HTTP acceptor: ", ec.message()));
  }
  started_ = true;
  Accept();
  int index = 0;
  for (Worker* w : AllWorkers()) {
    w->thread = std::thread([w] {
      // run() returns once stop() is called; the work guard keeps an idle
      // worker alive until then.
      auto guard = asio::make_work_guard(w->ioc);
      w->ioc.run();
    });
    SetThreadName(w->thread, w == accept_worker_.get() ? absl::StrCat(options_.thread_name, "-accept")
                                                       : absl::StrCat(options_.thread_name, "-", index++));
  }
  return absl::OkStatus();
}

void HttpServer::Impl::Shutdown() {
  if (shut_down_ || !started_) return;
  shut_down_ = true;
  stopping_.store(true, std::memory_order_release);
  // Shared with the posted task: if the wait times out, the task may still
  // run later and must not touch this frame.
  auto acceptor_closed = std::make_shared<Notification>();
  asio::post(accept_worker_->ioc, [this, acceptor_closed] {
    beast::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    if (accept_timer_) accept_timer_->cancel();
    acceptor_closed->Notify();
  });
  acceptor_closed->WaitForNotificationWithTimeout(absl::Seconds(5));
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    asio::post(w->ioc, [w] {
      for (auto& [raw, weak] : w->sessions) {
        if (auto session = weak.lock()) session->OnServerShutdown();
      }
      // Requests waiting for room go on now (read, or refused by the handler).
      if (w->room_waits) w->room_waits->ResumeAll();
    });
  }
  {
    MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_sessions_ == 0; };
    mu_.AwaitWithTimeout(drained, options_.shutdown_grace);
  }
  for (Worker* w : AllWorkers()) w->ioc.stop();
  for (Worker* w : AllWorkers()) {
    if (w->thread.joinable()) w->thread.join();
  }
  accept_timer_.reset();
  acceptor_.reset();
  accept_worker_.reset();
  // Destroying each io_context destroys the sessions still pending on it.
  workers_.clear();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Shutdown(); }
int HttpServer::port() const { return impl_->port(); }
int64_t HttpServer::RefusedConnections() const { return impl_->RefusedConnections(); }
int64_t HttpServer::AcceptFailures() const { return impl_->AcceptFailures(); }
int64_t HttpServer::SlowBodies() const { return impl_->SlowBodies(); }
int64_t HttpServer::WaitingForRoom() const { return impl_->WaitingForRoom(); }
void HttpServer::Shutdown() { impl_->Shutdown(); }

absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options, HttpHandler& handler) {
  auto impl = std::make_unique<HttpServer::Impl>(options, handler);
  absl::Status status = impl->Start();
  if (!status.ok()) return status;
  return std::make_unique<HttpServer>(std::move(impl));
}

}  // namespace gateway
