// The no-op OTLP sink: the gateway's front end (gRPC Trace/Metrics/Logs
// Export through the raw callback API, OTLP/HTTP POST /v1/{traces,metrics,logs}
// on HTTP/1.1) answering success at once. It is the ceiling of the transport
// on this machine, and, on HTTP, a stand-in for Dynatrace as the gateway's
// export target (any path ending in /v1/traces, e.g. /api/v2/otlp/v1/traces).
//
//   noop_sink --grpc-port=0 --http-port=0
//   {"grpc_port":40123,"http_port":40124}          <- first stdout line
//   curl -s 127.0.0.1:40124/stats                  <- counters as JSON
//   kill -TERM <pid>                               -> last stdout line: counters
//
// Trace spans are counted by walking the wire format (gzip bodies are
// inflated first); metrics and logs count requests and bytes only. With
// --http-delay-ms it plays a slow export target, for overload runs.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <isa-l/igzip_lib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "bench/loadgen_flags.h"
#include "bench/loadgen_wire.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "grpcpp/grpcpp.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address both servers bind.");
ABSL_FLAG(int, grpc_port, 0, "gRPC port; 0 picks a free one; -1 disables gRPC.");
ABSL_FLAG(int, http_port, 0, "HTTP port; 0 picks a free one; -1 disables HTTP.");
ABSL_FLAG(int, http_threads, 2, "I/O threads of the HTTP server.");
ABSL_FLAG(bool, count_spans, true, "Count trace spans by walking the wire format.");
ABSL_FLAG(int, max_body_mib, 64, "Largest request body accepted.");
ABSL_FLAG(int, http_delay_ms, 0,
          "Answer OTLP/HTTP POSTs this late (a slow export target; the wait blocks no thread).");

namespace loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

enum SignalIndex { kTraces = 0, kMetrics = 1, kLogs = 2, kSignals = 3 };
constexpr const char* kSignalNames[kSignals] = {"traces", "metrics", "logs"};

struct alignas(64) SignalCounters {
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> spans{0};
  std::atomic<int64_t> malformed{0};
};

struct SinkCounters {
  SignalCounters by_signal[kSignals];
  alignas(64) std::atomic<int64_t> grpc_requests{0};
  alignas(64) std::atomic<int64_t> http_requests{0};

  std::string Json() const {
    std::string out = "{";
    for (int s = 0; s < kSignals; ++s) {
      const auto& c = by_signal[s];
      absl::StrAppend(&out, "\"", kSignalNames[s], "\":{\"requests\":", c.requests.load(), ",\"bytes\":",
                      c.bytes.load(), ",\"spans\":", c.spans.load(), ",\"malformed\":", c.malformed.load(),
                      "},");
    }
    absl::StrAppend(&out, "\"grpc_requests\":", grpc_requests.load(), ",\"http_requests\":", http_requests.load(),
                    "}");
    return out;
  }
};

// Inflates a gzip or zlib body; false when it is not one. ISA-L's inflate
// (several times zlib's speed): the sink shares the cores with the gateway it
// measures, so its own work should cost as little as possible.
bool Inflate(std::string_view in, std::string* out) {
  thread_local std::unique_ptr<inflate_state> state = std::make_unique<inflate_state>();
  isal_inflate_init(state.get());
  const bool gzip = in.size() >= 2 && static_cast<uint8_t>(in[0]) == 0x1f && static_cast<uint8_t>(in[1]) == 0x8b;
  state->crc_flag = gzip ? ISAL_GZIP : ISAL_ZLIB;
  state->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(in.data()));
  state->avail_in = static_cast<uint32_t>(in.size());
  out->resize(std::max<size_t>(4 * in.size(), 4096));
  size_t produced = 0;
  while (true) {
    state->next_out = reinterpret_cast<uint8_t*>(out->data() + produced);
    state->avail_out = static_cast<uint32_t>(out->size() - produced);
    const uint32_t before = state->avail_out;
    if (isal_inflate(state.get()) != ISAL_DECOMP_OK) return false;
    produced += before - state->avail_out;
    if (state->block_state == ISAL_BLOCK_FINISH) break;
    if (state->avail_out == 0) {
      out->resize(out->size() * 2);
    } else if (state->avail_in == 0) {
      return false;  // truncated
    }
  }
  out->resize(produced);
  return true;
}

void CountTraces(SinkCounters& counters, std::string_view body, bool gzipped) {
  if (!absl::GetFlag(FLAGS_count_spans)) return;
  std::string inflated;
  if (gzipped) {
    if (!Inflate(body, &inflated)) {
      counters.by_signal[kTraces].malformed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    body = inflated;
  }
  const int64_t spans = CountTraceSpans(body);
  if (spans < 0) {
    counters.by_signal[kTraces].malformed.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters.by_signal[kTraces].spans.fetch_add(spans, std::memory_order_relaxed);
  }
}

void Record(SinkCounters& counters, SignalIndex signal, size_t bytes) {
  counters.by_signal[signal].requests.fetch_add(1, std::memory_order_relaxed);
  counters.by_signal[signal].bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
}

// ---- gRPC ---------------------------------------------------------------

// An empty Export*ServiceResponse: zero bytes on the wire.
grpc::ByteBuffer EmptyResponse() {
  grpc::Slice empty;
  return grpc::ByteBuffer(&empty, 1);
}

// Finishes the call OK after `count` has looked at the request.
template <typename Count>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, grpc::ByteBuffer* response, Count&& count) {
  count();
  *response = EmptyResponse();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

class TraceSink final : public opentelemetry::proto::collector::trace::v1::TraceService::WithRawCallbackMethod_Export<
                            opentelemetry::proto::collector::trace::v1::TraceService::Service> {
 public:
  explicit TraceSink(SinkCounters& counters) : counters_(counters) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return Answer(context, response, [&] {
      counters_.grpc_requests.fetch_add(1, std::memory_order_relaxed);
      Record(counters_, kTraces, request->Length());
      if (absl::GetFlag(FLAGS_count_spans)) {
        const std::string body = Flatten(*request);
        CountTraces(counters_, body, false);
      }
    });
  }

 private:
  SinkCounters& counters_;
};

class MetricsSink final
    : public opentelemetry::proto::collector::metrics::v1::MetricsService::WithRawCallbackMethod_Export<
          opentelemetry::proto::collector::metrics::v1::MetricsService::Service> {
 public:
  explicit MetricsSink(SinkCounters& counters) : counters_(counters) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return Answer(context, response, [&] {
      counters_.grpc_requests.fetch_add(1, std::memory_order_relaxed);
      Record(counters_, kMetrics, request->Length());
    });
  }

 private:
  SinkCounters& counters_;
};

class LogsSink final : public opentelemetry::proto::collector::logs::v1::LogsService::WithRawCallbackMethod_Export<
                           opentelemetry::proto::collector::logs::v1::LogsService::Service> {
 public:
  explicit LogsSink(SinkCounters& counters) : counters_(counters) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return Answer(context, response, [&] {
      counters_.grpc_requests.fetch_add(1, std::memory_order_relaxed);
      Record(counters_, kLogs, request->Length());
    });
  }

 private:
  SinkCounters& counters_;
};

// ---- HTTP ---------------------------------------------------------------

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, SinkCounters& counters, uint64_t body_limit)
      : stream_(std::move(socket)),
        timer_(stream_.get_executor()),
        counters_(counters),
        body_limit_(body_limit),
        delay_(absl::GetFlag(FLAGS_http_delay_ms)) {}

  void Start() { Read(); }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    parser_->header_limit(64 * 1024);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit) {
        Respond(413, "text/plain", "body too large\n", false);
        return;
      }
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    const auto& request = parser_->get();
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const bool keep_alive = request.keep_alive();
    if (request.method() == http::verb::get && (path == "/stats" || path == "/")) {
      Respond(200, "application/json", counters_.Json() + "\n", keep_alive);
      return;
    }
    if (request.method() == http::verb::get && (path == "/healthz" || path == "/readyz")) {
      Respond(200, "text/plain", "ok\n", keep_alive);
      return;
    }
    if (request.method() != http::verb::post) {
      Respond(405, "text/plain", "method not allowed\n", keep_alive);
      return;
    }
    const std::string& body = request.body();
    const std::string_view content_type(request[http::field::content_type].data(),
                                        request[http::field::content_type].size());
    const bool json = content_type.find("json") != std::string_view::npos;
    const std::string_view encoding(request[http::field::content_encoding].data(),
                                    request[http::field::content_encoding].size());
    const bool gzipped = encoding == "gzip" || encoding == "deflate";
    SignalIndex signal;
    if (EndsWith(path, "/v1/traces")) {
      signal = kTraces;
    } else if (EndsWith(path, "/v1/metrics")) {
      signal = kMetrics;
    } else if (EndsWith(path, "/v1/logs")) {
      signal = kLogs;
    } else {
      Respond(404, "text/plain", "not found\n", keep_alive);
      return;
    }
    counters_.http_requests.fetch_add(1, std::memory_order_relaxed);
    Record(counters_, signal, body.size());
    if (signal == kTraces && !json) CountTraces(counters_, body, gzipped);
    // An empty Export*ServiceResponse in the request's encoding.
    const char* response_type = json ? "application/json" : "application/x-protobuf";
    std::string response_body = json ? "{}" : "";
    if (delay_.count() > 0) {
      timer_.expires_after(delay_);
      timer_.async_wait([self = shared_from_this(), response_type, response_body, keep_alive](beast::error_code) {
        self->Respond(200, response_type, response_body, keep_alive);
      });
      return;
    }
    Respond(200, response_type, std::move(response_body), keep_alive);
  }

  void Respond(int status, const char* content_type, std::string body, bool keep_alive) {
    auto response = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), 11);
    response->set(http::field::content_type, content_type);
    response->keep_alive(keep_alive);
    response->body() = std::move(body);
    response->prepare_payload();
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) {
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
                          return;
                        }
                        self->Read();
                      });
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  SinkCounters& counters_;
  const uint64_t body_limit_;
  const std::chrono::milliseconds delay_;
};

class HttpListener : public std::enable_shared_from_this<HttpListener> {
 public:
  HttpListener(asio::io_context& io, tcp::endpoint endpoint, SinkCounters& counters, uint64_t body_limit)
      : io_(io), acceptor_(asio::make_strand(io)), counters_(counters), body_limit_(body_limit) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  int Port() const { return acceptor_.local_endpoint().port(); }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        s.set_option(tcp::no_delay(true), ec);
        std::make_shared<HttpSession>(std::move(s), self->counters_, self->body_limit_)->Start();
      }
      self->Accept();
    });
  }

  void Close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  SinkCounters& counters_;
  const uint64_t body_limit_;
};

int Main() {
  // Signals are taken by sigwait() in main; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SinkCounters counters;
  const std::string host = absl::GetFlag(FLAGS_host);
  const int grpc_port_flag = absl::GetFlag(FLAGS_grpc_port);
  const int http_port_flag = absl::GetFlag(FLAGS_http_port);
  const int max_body = absl::GetFlag(FLAGS_max_body_mib) << 20;

  TraceSink trace_sink(counters);
  MetricsSink metrics_sink(counters);
  LogsSink logs_sink(counters);
  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_port = -1;
  if (grpc_port_flag >= 0) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat(host, ":", grpc_port_flag), grpc::InsecureServerCredentials(), &grpc_port);
    builder.SetMaxReceiveMessageSize(max_body);
    builder.RegisterService(&trace_sink);
    builder.RegisterService(&metrics_sink);
    builder.RegisterService(&logs_sink);
    grpc_server = builder.BuildAndStart();
    if (grpc_server == nullptr || grpc_port <= 0) {
      std::fprintf(stderr, "noop_sink: cannot listen for gRPC on %s:%d\n", host.c_str(), grpc_port_flag);
      return 1;
    }
  }

  asio::io_context io;
  std::shared_ptr<HttpListener> listener;
  std::vector<std::thread> http_threads;
  int http_port = -1;
  if (http_port_flag >= 0) {
    try {
      listener = std::make_shared<HttpListener>(
          io, tcp::endpoint(asio::ip::make_address(host), static_cast<uint16_t>(http_port_flag)), counters,
          static_cast<uint64_t>(max_body));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "noop_sink: cannot listen for HTTP on %s:%d: %s\n", host.c_str(), http_port_flag,
                   e.what());
      return 1;
    }
    http_port = listener->Port();
    listener->Accept();
    const int threads = std::max(1, absl::GetFlag(FLAGS_http_threads));
    for (int i = 0; i < threads; ++i) http_threads.emplace_back([&io] { io.run(); });
  }

  std::printf("{\"grpc_port\":%d,\"http_port\":%d,\"pid\":%d}\n", grpc_port, http_port, static_cast<int>(getpid()));
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);

  if (listener != nullptr) listener->Close();
  if (grpc_server != nullptr) grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  io.stop();
  for (auto& t : http_threads) t.join();
  std::printf("%s\n", counters.Json().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("No-op OTLP sink (gRPC and HTTP) for benchmarks.");
  std::vector<std::string> storage;
  std::vector<char*> args = loadgen::NormalizeFlagNames(argc, argv, &storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  return loadgen::Main();
}
