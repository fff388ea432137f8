#include "tests/fakes/fake_dynatrace.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/absl_compat.h"
#include "gateway/receivers/tls_server_context.h"
#include "pipeline/otlp/gzip.h"
#include "tests/fakes/dynatrace_metrics_contract.h"

namespace gateway::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace collogs = opentelemetry::proto::collector::logs::v1;

constexpr size_t kMaxBody = 256u << 20;
constexpr int kAcceptPollMs = 20;

bool HasSpanNamed(const std::string& body, const std::string& name) {
  coltrace::ExportTraceServiceRequest request;
  if (!request.ParseFromString(body)) return false;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) {
        if (span.name() == name) return true;
      }
    }
  }
  return false;
}

// `*items` counts spans or metric data points; for metrics, `*refused` what
// Dynatrace would refuse of them (tests/fakes/dynatrace_metrics_contract.h).
bool ParseBody(Signal signal, const std::string& body, int64_t* spans, int64_t* items, MetricsVerdict* refused) {
  *spans = 0;
  switch (signal) {
    case Signal::kTraces: {
      coltrace::ExportTraceServiceRequest request;
      if (!request.ParseFromString(body)) return false;
      for (const auto& rs : request.resource_spans()) {
        for (const auto& ss : rs.scope_spans()) *spans += ss.spans_size();
      }
      *items = *spans;
      return true;
    }
    case Signal::kMetrics: {
      colmetrics::ExportMetricsServiceRequest request;
      if (!request.ParseFromString(body)) return false;
      *refused = CheckDynatraceMetrics(request);
      *items = refused->points;
      return true;
    }
    case Signal::kLogs: {
      collogs::ExportLogsServiceRequest request;
      return request.ParseFromString(body);
    }
  }
  return false;
}

std::string SuccessBody(Signal signal, int64_t rejected, const std::string& message) {
  switch (signal) {
    case Signal::kTraces: {
      coltrace::ExportTraceServiceResponse response;
      if (rejected > 0 || !message.empty()) {
        response.mutable_partial_success()->set_rejected_spans(rejected);
        response.mutable_partial_success()->set_error_message(message);
      }
      return response.SerializeAsString();
    }
    case Signal::kMetrics: {
      colmetrics::ExportMetricsServiceResponse response;
      if (rejected > 0 || !message.empty()) {
        response.mutable_partial_success()->set_rejected_data_points(rejected);
        response.mutable_partial_success()->set_error_message(message);
      }
      return response.SerializeAsString();
    }
    case Signal::kLogs: {
      collogs::ExportLogsServiceResponse response;
      if (rejected > 0 || !message.empty()) {
        response.mutable_partial_success()->set_rejected_log_records(rejected);
        response.mutable_partial_success()->set_error_message(message);
      }
      return response.SerializeAsString();
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeDynatrace>> FakeDynatrace::Start(Options options) {
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("FakeDynatrace: TLS needs both a certificate and a key");
  }
  std::unique_ptr<FakeDynatrace> fake(new FakeDynatrace(std::move(options)));
  if (!fake->options_.tls_cert_path.empty()) {
    absl::StatusOr<asio::ssl::context> tls =
        NewTlsServerContext(fake->options_.tls_cert_path, fake->options_.tls_key_path);
    if (!tls.ok()) return tls.status();
    fake->tls_ = std::make_unique<asio::ssl::context>(*std::move(tls));
  }
  if (absl::Status s = fake->Listen(0); !s.ok()) return s;
  fake->accept_thread_ = std::thread([f = fake.get()] { f->AcceptLoop(); });
  return fake;
}

FakeDynatrace::FakeDynatrace(Options options) : options_(std::move(options)) {}

FakeDynatrace::~FakeDynatrace() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    MutexLock lock(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  MutexLock lock(&mu_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

absl::Status FakeDynatrace::Listen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 128) != 0) {
    absl::Status s = absl::UnavailableError(absl::StrCat("bind/listen 127.0.0.1:", port, ": ", std::strerror(errno)));
    ::close(fd);
    return s;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  MutexLock lock(&mu_);
  listen_fd_ = fd;
  return absl::OkStatus();
}

std::string FakeDynatrace::url() const {
  return tls_ != nullptr ? absl::StrCat("https://localhost:", port_, options_.base_path)
                         : absl::StrCat("http://127.0.0.1:", port_, options_.base_path);
}

void FakeDynatrace::AcceptLoop() {
  // Bounded by the destructor: polls the listening socket with a short
  // timeout so stopping_ and GoDown are seen promptly.
  while (true) {
    int fd;
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      fd = listen_fd_;
    }
    if (fd < 0) {
      MutexLock lock(&mu_);
      mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || listen_fd_ >= 0; },
                           absl::Milliseconds(kAcceptPollMs * 10));
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kAcceptPollMs) <= 0) continue;
    int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    MutexLock lock(&mu_);
    if (stopping_ || listen_fd_ != fd) {
      ::close(conn);
      continue;
    }
    connections_.push_back(conn);
    threads_.emplace_back([this, conn] { Serve(conn); });
  }
}

void FakeDynatrace::GoDown() {
  MutexLock lock(&mu_);
  // The accept loop only reads listen_fd_ under mu_ and re-checks it after
  // poll, so closing here is safe. shutdown() first: while the accept loop
  // is still inside poll() on it, close() alone leaves the socket listening
  // until poll returns, and ComeBack() then fails with EADDRINUSE.
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
  }
  listen_fd_ = -1;
  for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
}

absl::Status FakeDynatrace::ComeBack() {
  {
    MutexLock lock(&mu_);
    if (listen_fd_ >= 0) return absl::OkStatus();
  }
  return Listen(port_);
}

void FakeDynatrace::PushResponse(Response response) {
  MutexLock lock(&mu_);
  script_.push_back(std::move(response));
}

void FakeDynatrace::SetScript(std::vector<Response> script) {
  MutexLock lock(&mu_);
  script_ = std::move(script);
}

void FakeDynatrace::RejectSpansNamed(std::string name) {
  MutexLock lock(&mu_);
  refused_span_name_ = std::move(name);
}

void FakeDynatrace::SetDefaultResponse(Response response) {
  MutexLock lock(&mu_);
  default_response_ = std::move(response);
}

void FakeDynatrace::SetMaxBodyBytes(size_t max_body_bytes) {
  MutexLock lock(&mu_);
  options_.max_body_bytes = max_body_bytes;
}

FakeDynatrace::Response FakeDynatrace::NextResponse() {
  MutexLock lock(&mu_);
  if (script_.empty()) return default_response_;
  Response r = std::move(script_.front());
  script_.erase(script_.begin());
  return r;
}

template <class Stream>
void FakeDynatrace::ServeRequests(Stream& stream) {
  boost::system::error_code ec;
  beast::flat_buffer buffer;
  // One request per iteration; ends when the client closes, on error, or
  // when GoDown/the destructor shuts the socket down.
  while (!ec) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    http::read(stream, buffer, parser, ec);
    if (ec) break;
    http::request<http::string_body> req = parser.release();

    ReceivedRequest record;
    record.path = std::string(req.target());
    for (const auto& field : req) {
      record.headers[absl::AsciiStrToLower(ToAbsl(std::string_view(field.name_string())))] =
          std::string(field.value());
    }
    record.wire_bytes = req.body().size();

    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
    Response scripted;
    bool use_script = false;
    size_t max_body_bytes;
    {
      MutexLock lock(&mu_);
      max_body_bytes = options_.max_body_bytes;
    }
    const std::string prefix = options_.base_path + "/v1/";
    bool known_path = false;
    if (absl::StartsWith(record.path, prefix)) {
      const std::string rest = record.path.substr(prefix.size());
      for (Signal s : {Signal::kTraces, Signal::kMetrics, Signal::kLogs}) {
        if (rest == SignalName(s)) {
          record.signal = s;
          known_path = true;
        }
      }
    }
    const std::string auth = record.headers.count("authorization") ? record.headers["authorization"] : "";
    const std::string type = record.headers.count("content-type") ? record.headers["content-type"] : "";
    const std::string encoding =
        record.headers.count("content-encoding") ? record.headers["content-encoding"] : "";
    int64_t spans = 0;
    int64_t items = 0;
    MetricsVerdict refused;
    if (!known_path) {
      status = 404;
      body = "not found";
    } else if (req.method() != http::verb::post) {
      status = 405;
      body = "method not allowed";
    } else if (auth != "Api-Token " + options_.token) {
      status = 401;
      body = "missing or invalid token";
    } else if (!absl::StartsWith(type, "application/x-protobuf")) {
      status = 415;
      body = "only application/x-protobuf is supported";
    } else {
      record.body = std::move(req.body());
      bool ok = true;
      if (encoding == "gzip") {
        absl::StatusOr<std::string> plain = GzipDecompress(record.body, kMaxBody);
        if (plain.ok()) {
          record.body = *std::move(plain);
        } else {
          ok = false;
          status = 400;
          body = "bad gzip body";
        }
      } else if (!encoding.empty() && encoding != "identity") {
        ok = false;
        status = 415;
        body = "unsupported content encoding";
      }
      if (ok && max_body_bytes > 0 && record.body.size() > max_body_bytes) {
        ok = false;
        status = 413;
        body = "payload too large";
      }
      if (ok && !ParseBody(record.signal, record.body, &spans, &items, &refused)) {
        ok = false;
        status = 400;
        body = "body does not parse";
      }
      std::string refused_name;
      {
        MutexLock lock(&mu_);
        refused_name = refused_span_name_;
      }
      if (ok && record.signal == Signal::kTraces && !refused_name.empty() &&
          HasSpanNamed(record.body, refused_name)) {
        ok = false;
        status = 400;
        body = absl::StrCat("invalid span '", refused_name, "' in request");
      }
      if (ok) {
        scripted = NextResponse();
        use_script = true;
      }
    }
    if (use_script) {
      if (scripted.delay > absl::ZeroDuration()) {
        MutexLock lock(&mu_);
        const int listening_fd = listen_fd_;
        auto interrupted = [this, listening_fd]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return stopping_ || listen_fd_ != listening_fd;
        };
        mu_.AwaitWithTimeout(interrupted, scripted.delay);
      }
      if (scripted.close_without_response) {
        MutexLock lock(&mu_);
        requests_.push_back(std::move(record));
        break;
      }
      status = scripted.status;
      if (status >= 200 && status < 300 && scripted.body.empty() && scripted.partial_success_rejected == 0 &&
          scripted.partial_success_message.empty() && refused.rejected > 0) {
        // Unscripted: refuse what Dynatrace refuses, as it does.
        scripted.partial_success_rejected = refused.rejected;
        scripted.partial_success_message = refused.message;
      }
      if (status >= 200 && status < 300) {
        record.items = items;
        record.rejected_items = scripted.partial_success_rejected;
        record.rejection_message = scripted.partial_success_message;
      }
      if (status >= 200 && status < 300 && scripted.body.empty()) {
        body = SuccessBody(record.signal, scripted.partial_success_rejected, scripted.partial_success_message);
        content_type = "application/x-protobuf";
      } else {
        body = scripted.body;
      }
    }
    record.status = status;
    {
      MutexLock lock(&mu_);
      if (status >= 200 && status < 300) accepted_spans_ += spans;
      requests_.push_back(record);
    }
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::content_type, content_type);
    if (use_script && !scripted.retry_after.empty()) res.set(http::field::retry_after, scripted.retry_after);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    http::write(stream, res, ec);
    if (!req.keep_alive()) break;
  }
}

void FakeDynatrace::Serve(int fd) {
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.assign(asio::ip::tcp::v4(), fd, ec);
  if (!ec && tls_ != nullptr) {
    asio::ssl::stream<asio::ip::tcp::socket&> stream(socket, *tls_);
    // Failed handshakes (an untrusting client, GoDown) just close.
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (!ec) ServeRequests(stream);
  } else if (!ec) {
    ServeRequests(socket);
  }
  MutexLock lock(&mu_);
  connections_.erase(std::remove(connections_.begin(), connections_.end(), fd), connections_.end());
  socket.close(ec);
}

std::vector<FakeDynatrace::ReceivedRequest> FakeDynatrace::Requests() const {
  MutexLock lock(&mu_);
  return requests_;
}

int64_t FakeDynatrace::RequestCount() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(requests_.size());
}

std::vector<opentelemetry::proto::trace::v1::ResourceSpans> FakeDynatrace::ReceivedSpans() const {
  size_t cursor = 0;
  return ReceivedSpansSince(&cursor);
}

std::vector<opentelemetry::proto::trace::v1::ResourceSpans> FakeDynatrace::ReceivedSpansSince(size_t* cursor) const {
  std::vector<ReceivedRequest> received;
  {
    MutexLock lock(&mu_);
    for (size_t i = std::min(*cursor, requests_.size()); i < requests_.size(); ++i) {
      if (requests_[i].signal == Signal::kTraces) received.push_back(requests_[i]);
    }
    *cursor = requests_.size();
  }
  std::vector<opentelemetry::proto::trace::v1::ResourceSpans> out;
  for (const ReceivedRequest& r : received) {
    if (r.status < 200 || r.status >= 300) continue;
    coltrace::ExportTraceServiceRequest request;
    request.ParseFromString(r.body);
    for (auto& rs : *request.mutable_resource_spans()) out.push_back(std::move(rs));
  }
  return out;
}

std::vector<opentelemetry::proto::metrics::v1::ResourceMetrics> FakeDynatrace::ReceivedMetrics() const {
  std::vector<opentelemetry::proto::metrics::v1::ResourceMetrics> out;
  for (const ReceivedRequest& r : Requests()) {
    if (r.signal != Signal::kMetrics || r.status < 200 || r.status >= 300) continue;
    colmetrics::ExportMetricsServiceRequest request;
    request.ParseFromString(r.body);
    for (auto& rm : *request.mutable_resource_metrics()) out.push_back(std::move(rm));
  }
  return out;
}

std::vector<opentelemetry::proto::logs::v1::ResourceLogs> FakeDynatrace::ReceivedLogs() const {
  std::vector<opentelemetry::proto::logs::v1::ResourceLogs> out;
  for (const ReceivedRequest& r : Requests()) {
    if (r.signal != Signal::kLogs || r.status < 200 || r.status >= 300) continue;
    collogs::ExportLogsServiceRequest request;
    request.ParseFromString(r.body);
    for (auto& rl : *request.mutable_resource_logs()) out.push_back(std::move(rl));
  }
  return out;
}

int64_t FakeDynatrace::SpanCount() const {
  MutexLock lock(&mu_);
  return accepted_spans_;
}

int64_t FakeDynatrace::MetricPointCount() const {
  MutexLock lock(&mu_);
  int64_t n = 0;
  for (const ReceivedRequest& r : requests_) n += r.signal == Signal::kMetrics ? r.items : 0;
  return n;
}

int64_t FakeDynatrace::RejectedItems(Signal signal) const {
  MutexLock lock(&mu_);
  int64_t n = 0;
  for (const ReceivedRequest& r : requests_) n += r.signal == signal ? r.rejected_items : 0;
  return n;
}

bool FakeDynatrace::WaitForMetricPoints(int64_t n, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    int64_t points = 0;
    for (const ReceivedRequest& r : requests_) points += r.signal == Signal::kMetrics ? r.items : 0;
    return points >= n;
  };
  return mu_.AwaitWithDeadline(enough, deadline);
}

int64_t FakeDynatrace::LogRecordCount() const {
  int64_t n = 0;
  for (const auto& rl : ReceivedLogs()) {
    for (const auto& sl : rl.scope_logs()) n += sl.log_records_size();
  }
  return n;
}

bool FakeDynatrace::WaitForRequests(int64_t n, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return static_cast<int64_t>(requests_.size()) >= n; };
  return mu_.AwaitWithDeadline(enough, deadline);
}

bool FakeDynatrace::WaitForSpans(int64_t n, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return accepted_spans_ >= n; };
  return mu_.AwaitWithDeadline(enough, deadline);
}

}  // namespace gateway::testing
