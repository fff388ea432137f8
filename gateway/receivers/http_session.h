// Private to http_server.cc: one HTTP connection, from its first byte to
// its close. Session<Stream> reads a request's headers, lets the handler
// screen them (and wait for room), reads the body at a minimum rate, hands
// the request to the handler and writes the answer; it runs on its worker's
// I/O thread only.
#pragma once

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gateway/receivers/growing_string_body.h"
#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/http_server.h"
#include "gateway/receivers/http_worker.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"

namespace gateway::http_server_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

inline std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(d));
}

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... StreamArgs>
  Session(SessionHost& server, Worker& worker, std::string remote, StreamArgs&&... stream_args)
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
    room_waited_ = absl::ZeroDuration();
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
      return WaitForRoom(
          wait, [](Session& self) { return self.server_.handler().HasRoom(self.request_); },
          [](Session& self) { self.AfterHeaders(); });
    }
    AfterHeaders();
  }

  // Pauses the request for up to `wait` on its worker's queue of waits for
  // room; `then` runs on this thread when `has_room` says yes or the time is
  // up. The wait was the gateway's: the read deadlines move by it.
  template <class HasRoomFn, class ThenFn>
  void WaitForRoom(absl::Duration wait, HasRoomFn has_room, ThenFn then) {
    server_.RoomWaitStarted();
    const auto since = std::chrono::steady_clock::now();
    auto self = this->shared_from_this();
    worker_.room_waits->Add(
        since + ToSteady(wait), [self, has_room] { return has_room(*self); },
        [self, since, then](bool room) {
          const auto waited = std::chrono::steady_clock::now() - since;
          self->request_deadline_ += waited;
          self->body_start_ += waited;
          self->room_waited_ += absl::FromChrono(waited);
          self->server_.RoomWaitEnded();
          self->server_.handler().RoomWaitEnded(room, absl::FromChrono(waited));
          then(*self);
        });
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
    const absl::Duration wait = server_.handler().BodyRoomWait(request_, in_memory, room_waited_);
    if (wait > absl::ZeroDuration() && !server_.stopping()) {
      // The rest of the body stays in the socket until there is room.
      return WaitForRoom(
          wait,
          [in_memory](Session& self) { return self.server_.handler().HasRoomForBody(self.request_, in_memory); },
          [in_memory](Session& self) { self.AfterBodyPart(in_memory); });
    }
    AfterBodyPart(in_memory);
  }

  // The handler's verdict on the body so far, then the next read.
  void AfterBodyPart(size_t in_memory) {
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

  SessionHost& server_;
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
  // How long the current request has waited for room, headers and body.
  absl::Duration room_waited_;
  // The request being read: its headers from OnHeader on, its body at Dispatch.
  HttpRequest request_;
  bool idle_ = false;
  bool close_after_response_ = false;
  std::string drain_;
  size_t drained_ = 0;
};

}  // namespace gateway::http_server_internal
