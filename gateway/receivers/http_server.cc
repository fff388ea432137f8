#include "gateway/receivers/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
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
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/receivers/growing_string_body.h"
#include "gateway/receivers/http_worker.h"
#include "gateway/receivers/room_wait_queue.h"
#include "gateway/receivers/tcp_listener.h"
#include "gateway/receivers/tls_server_context.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/cgroup.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/sync.h"

namespace gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using http_server_internal::SessionBase;
using http_server_internal::Worker;

namespace {

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(d));
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& options, HttpHandler& handler) : options_(options), handler_(handler) {}

  absl::Status Start();
  void Shutdown();
  int port() const { return port_; }

  const HttpServerOptions& options() const { return options_; }
  HttpHandler& handler() { return handler_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  ~Impl() { Shutdown(); }
  void SessionStarted() {
    MutexLock lock(&mu_);
    ++live_sessions_;
  }
  void SessionEnded() {
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
  void RoomWaitStarted() { waiting_for_room_.fetch_add(1, std::memory_order_relaxed); }
  void RoomWaitEnded() { waiting_for_room_.fetch_sub(1, std::memory_order_relaxed); }
  // A body was cut off for arriving too slowly; logs at most a line a second.
  void NoteSlowBody(const std::string& remote, size_t bytes) {
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

namespace {

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... StreamArgs>
  Session(HttpServer::Impl& server, Worker& worker, std::string remote, StreamArgs&&... stream_args)
      : server_(server),
        worker_(worker),
        stream_(std::forward<StreamArgs>(stream_args)...),
        remote_(std::move(remote)) {
    server_.SessionStarted();
  }

  ~Session() override {
    worker_.sessions.erase(this);
    server_.SessionEnded();
  }

  // On the worker's thread.
  void Start() {
    worker_.sessions.emplace(this, this->weak_from_this());
    if (server_.stopping()) return;  // dropping the socket closes it
    if constexpr (kTls) {
      // A handshake is no request in flight: Shutdown() cancels it like an
      // idle connection instead of waiting out shutdown_grace for it.
      idle_ = true;
      Lowest().expires_after(ToSteady(server_.options().read_timeout));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                self->idle_ = false;
                                if (ec) return;  // failed handshakes just close
                                self->WaitForRequest();
                              });
    } else {
      WaitForRequest();
    }
  }

  void OnServerShutdown() override {
    close_after_response_ = true;
    if (idle_) {
      beast::error_code ignored;
      Lowest().socket().cancel(ignored);
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  // Between requests: wait for the first byte under the idle timeout.
  void WaitForRequest() {
    if (close_after_response_ || server_.stopping()) return Close();
    if (buffer_.size() > 0) return ReadHeader();
    idle_ = true;
    Lowest().expires_after(ToSteady(server_.options().idle_timeout));
    // Read into the flat buffer directly; a cap keeps one read small.
    auto space = buffer_.prepare(4096);
    stream_.async_read_some(space, [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->idle_ = false;
      if (ec) return self->Close();
      self->buffer_.commit(n);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    if (server_.stopping()) close_after_response_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(std::min<size_t>(server_.options().max_header_bytes, UINT32_MAX)));
    parser_->body_limit(server_.options().max_body_bytes);
    request_deadline_ = std::chrono::steady_clock::now() + ToSteady(server_.options().read_timeout);
    Lowest().expires_at(request_deadline_);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    request_ = HttpRequest{};
    request_.method = std::string(header.method_string());
    std::string_view target = header.target();
    size_t q = target.find('?');
    request_.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request_.query = std::string(target.substr(q + 1));
    request_.headers.reserve(std::distance(header.begin(), header.end()));
    for (const auto& field : header) {
      std::string name(field.name_string());
      absl::AsciiStrToLower(&name);
      request_.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request_.remote_address = remote_;
    const absl::Duration wait = server_.handler().RoomWait(request_);
    if (wait > absl::ZeroDuration() && !server_.stopping()) {
      // The body stays in the socket until there is room for it.
      server_.RoomWaitStarted();
      const auto since = std::chrono::steady_clock::now();
      auto self = this->shared_from_this();
      worker_.room_waits->Add(
          since + ToSteady(wait), [self] { return self->server_.handler().HasRoom(self->request_); },
          [self, since](bool room) {
            const auto waited = std::chrono::steady_clock::now() - since;
            // The wait was the gateway's: the read deadline starts again.
            self->request_deadline_ += waited;
            self->server_.RoomWaitEnded();
            self->server_.handler().RoomWaitEnded(room, absl::FromChrono(waited));
            self->AfterHeaders();
          });
      return;
    }
    AfterHeaders();
  }

  // The handler's verdict on the headers, then the body (or the refusal).
  void AfterHeaders() {
    const auto& header = parser_->get();
    if (std::optional<HttpResponse> refused = server_.handler().OnHeaders(&request_)) {
      // The body is not read: the connection closes after the answer.
      const unsigned version = header.version();
      parser_.reset();
      request_ = HttpRequest{};
      return Send(*std::move(refused), version, false);
    }
    auto expect = header.find(http::field::expect);
    if (expect != header.end() && absl::EqualsIgnoreCase(ToAbsl(expect->value()), "100-continue") &&
        !parser_->is_done()) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, header.version());
      Lowest().expires_after(ToSteady(server_.options().write_timeout));
      http::async_write(stream_, *cont, [self = this->shared_from_this(), cont](beast::error_code ec, size_t) {
        if (ec) return self->Close();
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    body_start_ = std::chrono::steady_clock::now();
    body_bytes_ = 0;
    ReadBodyPart();
  }

  // One read at a time, so that the handler sees the body's memory grow and
  // a body that arrives too slowly is cut off. The deadline is the earlier
  // of the request's read_timeout and the time by which the bytes received
  // so far would fall below the minimum rate (after a grace period).
  void ReadBodyPart() {
    if (parser_->is_done()) return Dispatch();
    const HttpServerOptions& options = server_.options();
    body_rate_deadline_ = false;
    auto deadline = request_deadline_;
    if (const int64_t rate = options.min_body_bytes_per_second; rate > 0) {
      const auto rate_deadline = body_start_ + ToSteady(options.body_rate_grace +
                                                        absl::Seconds(static_cast<double>(body_bytes_) / rate));
      if (rate_deadline < deadline) {
        deadline = rate_deadline;
        body_rate_deadline_ = true;
      }
    }
    Lowest().expires_at(deadline);
    http::async_read_some(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->OnBodyPart(ec, n);
    });
  }

  void OnBodyPart(beast::error_code ec, size_t n) {
    if (ec == beast::error::timeout && body_rate_deadline_) server_.NoteSlowBody(remote_, body_bytes_);
    if (ec) return OnReadError(ec);
    body_bytes_ += n;
    if (parser_->is_done()) return Dispatch();
    const size_t in_memory = parser_->get().body().capacity() + buffer_.capacity();
    if (std::optional<HttpResponse> refused = server_.handler().OnBodyProgress(&request_, in_memory)) {
      const unsigned version = parser_->get().version();
      parser_.reset();
      request_ = HttpRequest{};
      return Send(*std::move(refused), version, false);
    }
    ReadBodyPart();
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return SendError(431, "request headers too large\n");
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "request body too large\n");
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::ssl::error::stream_truncated) {
      return Close();
    }
    if (ec == http::error::partial_message) return Close();
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return SendError(400, "malformed request\n");
    }
    Close();
  }

  void Dispatch() {
    http::request<GrowingStringBody> message = parser_->release();
    parser_.reset();

    HttpRequest request = std::move(request_);
    request_ = HttpRequest{};
    request.body = std::move(message.body());

    HttpResponse response;
    const std::string path = request.path;  // for the log: the handler takes the request
    try {
      response = server_.handler().Handle(std::move(request));
    } catch (const std::exception& e) {
      LogError("http_handler_threw", {{"path", path}, {"what", e.what()}});
      response = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n", {}};
    } catch (...) {
      LogError("http_handler_threw", {{"path", path}});
      response = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n", {}};
    }
    const bool keep_alive = message.keep_alive() && !close_after_response_ && !server_.stopping();
    Send(std::move(response), message.version(), keep_alive);
  }

  // A response the server makes itself; the connection closes after it and
  // whatever the client still sends is drained briefly so that the close
  // does not reset the connection before the client has read the answer.
  void SendError(int status, std::string body) {
    parser_.reset();
    Send(HttpResponse{status, "text/plain; charset=utf-8", std::move(body), {}}, 11, false);
  }

  void Send(HttpResponse response, unsigned version, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(static_cast<unsigned>(response.status));
    res->version(version);
    res->set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->insert(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    Lowest().expires_after(ToSteady(server_.options().write_timeout));
    http::async_write(stream_, *res, [self = this->shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      if (keep_alive) return self->WaitForRequest();
      self->Linger();
    });
  }

  // Half-close, then read and discard for a moment (bounded in bytes and
  // time) so that the peer sees our response before the socket closes.
  void Linger() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Lowest().expires_after(std::chrono::seconds(2));
      DrainSome();
    }
  }

  void DrainSome() {
    if (drained_ > (size_t{1} << 20)) return Close();
    drain_.resize(16384);
    Lowest().async_read_some(asio::buffer(drain_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      self->drained_ += n;
      self->DrainSome();
    });
  }

  void Close() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  HttpServer::Impl& server_;
  Worker& worker_;
  Stream stream_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<GrowingStringBody>> parser_;
  // The current request's read_timeout; when its body began; its bytes so
  // far; whether the pending read's deadline is the minimum body rate's.
  std::chrono::steady_clock::time_point request_deadline_;
  std::chrono::steady_clock::time_point body_start_;
  size_t body_bytes_ = 0;
  bool body_rate_deadline_ = false;
  // The request being read: its headers from OnHeader on, its body at Dispatch.
  HttpRequest request_;
  bool idle_ = false;
  bool close_after_response_ = false;
  std::string drain_;
  size_t drained_ = 0;
};

}  // namespace

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
  for (Worker* w : AllWorkers()) {
    w->thread = std::thread([w] {
      // run() returns once stop() is called; the work guard keeps an idle
      // worker alive until then.
      auto guard = asio::make_work_guard(w->ioc);
      w->ioc.run();
    });
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
