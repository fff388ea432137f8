#include "gateway/receivers/otlp_http_handler.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/otlp/gzip.h"
#include "pipeline/otlp/otlp_json.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"

namespace gateway {
namespace {

constexpr char kProtobufType[] = "application/x-protobuf";
constexpr char kJsonType[] = "application/json";

// gRPC status codes for the google.rpc.Status in error bodies.
constexpr int kInvalidArgument = 3;
constexpr int kNotFound = 5;
constexpr int kResourceExhausted = 8;
constexpr int kFailedPrecondition = 9;
constexpr int kUnimplemented = 12;
constexpr int kUnavailable = 14;
constexpr int kUnauthenticated = 16;

// A request's Content-Encoding, lower-cased and trimmed ("" when absent).
std::string Encoding(const HttpRequest& request) {
  std::string encoding(absl::StripAsciiWhitespace(request.Header("content-encoding")));
  absl::AsciiStrToLower(&encoding);
  return encoding;
}

bool IsCompressed(const std::string& encoding) {
  return encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate";
}

// The budget a request's body holds while it is read: OnHeaders puts a
// ReceiveHold in `admission` for every request whose body is read (null for
// the others).
ReceiveHold* HoldOf(const HttpRequest& request) { return static_cast<ReceiveHold*>(request.admission.get()); }

int GrpcCodeFor(int http_status) {
  switch (http_status) {
    case 401:
      return kUnauthenticated;
    case 404:
      return kNotFound;
    case 405:
    case 415:
      return kUnimplemented;
    case 413:
      return kResourceExhausted;
    case 429:
    case 503:
      return kUnavailable;
    case 508:
      return kFailedPrecondition;
    default:
      return kInvalidArgument;
  }
}

std::optional<Signal> SignalForPath(std::string_view path) {
  if (path == "/v1/traces") return Signal::kTraces;
  if (path == "/v1/metrics") return Signal::kMetrics;
  if (path == "/v1/logs") return Signal::kLogs;
  return std::nullopt;
}

// The media type without parameters, lower-cased: "application/json".
std::string MediaType(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  absl::AsciiStrToLower(&type);
  return std::string(absl::StripAsciiWhitespace(type));
}

std::string StatusBody(int code, const std::string& message, bool json,
                       absl::Duration retry_after = absl::ZeroDuration()) {
  return json ? StatusJson(code, message, retry_after) : StatusProto(code, message, retry_after);
}

}  // namespace

OtlpHttpHandler::OtlpHttpHandler(OtlpHttpHandlerOptions options, Ingest& ingest, MetricsRegistry& metrics)
    : options_(std::move(options)), ingest_(ingest), metrics_(metrics, "http"), waits_(metrics, "http") {}

absl::Duration OtlpHttpHandler::RoomWait(const HttpRequest& request) {
  // What OnHeaders refuses anyway (wrong path or method, content type,
  // token) is refused at once.
  if (options_.admission_wait <= absl::ZeroDuration() || Classify(request) != Screening::kExport ||
      HasRoom(request)) {
    return absl::ZeroDuration();
  }
  return options_.admission_wait;
}

bool OtlpHttpHandler::HasRoom(const HttpRequest& request) {
  return !ingest_.NoRoomYet(ExpectedAdmittedBytes(request));
}

int64_t OtlpHttpHandler::ExpectedAdmittedBytes(const HttpRequest& request) const {
  // 0 when chunked: the body then holds room as it arrives.
  int64_t announced = 0;
  if (!absl::SimpleAtoi(request.Header("content-length"), &announced) || announced < 0) return 0;
  if (!IsCompressed(Encoding(request))) return announced;
  // Admitted decompressed: waiting for room for the compressed bytes only
  // would end in a 503 at Accept whenever the budget is nearly full.
  const int64_t limit = static_cast<int64_t>(options_.max_decompressed_bytes);
  if (announced >= limit) return limit;
  return std::min(limit, announced * inflation_x16_.load(std::memory_order_relaxed) / 16);
}

void OtlpHttpHandler::NoteInflation(size_t compressed, size_t inflated) {
  if (compressed == 0) return;
  // Between 1x and 64x; each body moves the average an eighth of the way.
  const int64_t ratio = std::clamp<int64_t>(static_cast<int64_t>(inflated * 16 / compressed), 16, 64 * 16);
  const int64_t old = inflation_x16_.load(std::memory_order_relaxed);
  inflation_x16_.store(old + (ratio - old) / 8, std::memory_order_relaxed);
}

absl::Duration OtlpHttpHandler::BodyRoomWait(const HttpRequest& request, size_t bytes_in_memory,
                                             absl::Duration waited) {
  if (options_.admission_wait <= waited || HasRoomForBody(request, bytes_in_memory)) return absl::ZeroDuration();
  return options_.admission_wait - waited;
}

bool OtlpHttpHandler::HasRoomForBody(const HttpRequest& request, size_t bytes_in_memory) {
  const ReceiveHold* hold = HoldOf(request);
  return hold == nullptr || !hold->NoRoomYetToGrowTo(static_cast<int64_t>(bytes_in_memory));
}

void OtlpHttpHandler::RoomWaitEnded(bool room, absl::Duration waited) {
  // The server does not say whether its shutdown ended a wait: timed_out.
  (room ? waits_.admitted : waits_.timed_out)->Add();
  waits_.waited_us->Add(absl::ToInt64Microseconds(waited));
}

bool OtlpHttpHandler::OriginAllowed(const std::string& origin) const {
  if (origin.empty()) return false;
  for (const std::string& allowed : options_.cors_allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

bool OtlpHttpHandler::Authorized(const HttpRequest& request) const {
  return BearerTokenMatches(request.Header("authorization"), options_.bearer_token);
}

OtlpHttpHandler::Screening OtlpHttpHandler::Classify(const HttpRequest& request) const {
  if (!SignalForPath(request.path).has_value()) return Screening::kNoPath;
  if (!options_.own_instance_id.empty() &&
      request.Header("x-otlp-reparent-gateway-instance") == options_.own_instance_id) {
    return Screening::kExportLoop;
  }
  if (request.method == "OPTIONS" && !options_.cors_allowed_origins.empty()) return Screening::kPreflight;
  if (request.method != "POST") return Screening::kWrongMethod;
  const std::string media_type = MediaType(request.Header("content-type"));
  if (media_type != kProtobufType && media_type != "application/protobuf" && media_type != kJsonType) {
    return Screening::kUnsupportedType;
  }
  if (!options_.bearer_token.empty() && !Authorized(request)) return Screening::kUnauthenticated;
  return Screening::kExport;
}

std::optional<HttpResponse> OtlpHttpHandler::Screen(const HttpRequest& request, Signal* signal_out,
                                                   Format* format_out) {
  const Screening screening = Classify(request);
  const std::string media_type = MediaType(request.Header("content-type"));
  const bool json_request = media_type == kJsonType;
  if (screening == Screening::kNoPath) {
    HttpResponse response;
    response.status = 404;
    response.content_type = json_request ? kJsonType : kProtobufType;
    response.body = StatusBody(kNotFound, absl::StrCat("no OTLP endpoint at ", request.path), json_request);
    return response;
  }
  const Signal signal = *SignalForPath(request.path);
  *signal_out = signal;
  *format_out = json_request ? Format::kJson : Format::kProtobuf;
  switch (screening) {
    case Screening::kExportLoop:
      // Loop Detected: refused before the body is read, so a misconfigured
      // export stops here instead of circling.
      return Reject(signal, RejectReason::kExportLoop, 508, Format::kProtobuf,
                    "this request is this gateway's own export: its exporter endpoint points back at it");
    case Screening::kWrongMethod: {
      HttpResponse response;
      response.status = 405;
      response.content_type = json_request ? kJsonType : kProtobufType;
      response.body = StatusBody(kUnimplemented, "use POST", json_request);
      response.headers.emplace_back("Allow", options_.cors_allowed_origins.empty() ? "POST" : "POST, OPTIONS");
      return response;
    }
    case Screening::kUnsupportedType:
      return Reject(signal, RejectReason::kUnsupported, 415, Format::kProtobuf,
                    absl::StrCat("unsupported content type '", media_type,
                                 "'; use application/x-protobuf or application/json"));
    case Screening::kUnauthenticated: {
      HttpResponse response =
          Reject(signal, RejectReason::kUnauthenticated, 401, *format_out, "missing or invalid bearer token");
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
    case Screening::kNoPath:  // answered above
    case Screening::kPreflight:
    case Screening::kExport:
      break;
  }
  return std::nullopt;
}

std::optional<HttpResponse> OtlpHttpHandler::OnHeaders(HttpRequest* request) {
  Signal signal = Signal::kTraces;
  Format format = Format::kProtobuf;
  std::optional<HttpResponse> refused = Screen(*request, &signal, &format);
  if (!refused.has_value() && request->method == "POST") {
    // The body holds budget for what it has in memory, from nothing now to
    // all of it (OnBodyProgress); a full budget refuses it before any of it.
    request->admission = ingest_.HoldForReceive(0);
    if (request->admission == nullptr) {
      metrics_.For(signal).requests->Add();
      return Unavailable(signal, format, /*overloaded=*/true, absl::Seconds(1));
    }
  }
  if (refused.has_value()) {
    const std::string& origin = request->Header("origin");
    if (OriginAllowed(origin)) {
      refused->headers.emplace_back("Access-Control-Allow-Origin", origin);
      refused->headers.emplace_back("Vary", "Origin");
    }
  }
  return refused;
}

std::optional<HttpResponse> OtlpHttpHandler::OnBodyProgress(HttpRequest* request, size_t bytes_in_memory) {
  ReceiveHold* hold = HoldOf(*request);
  if (hold == nullptr || hold->GrowTo(static_cast<int64_t>(bytes_in_memory))) return std::nullopt;
  Signal signal = Signal::kTraces;
  Format format = Format::kProtobuf;
  Screen(*request, &signal, &format);
  metrics_.For(signal).requests->Add();
  return Unavailable(signal, format, /*overloaded=*/true, absl::Seconds(1));
}

HttpResponse OtlpHttpHandler::Handle(HttpRequest request) {
  const std::string& origin = request.Header("origin");
  const bool cors = OriginAllowed(origin);

  Signal signal = Signal::kTraces;
  Format format = Format::kProtobuf;
  std::optional<HttpResponse> refused = Screen(request, &signal, &format);
  HttpResponse response;
  if (refused.has_value()) {
    response = *std::move(refused);
  } else if (request.method == "OPTIONS") {
    return Preflight(request, origin);
  } else {
    response = Export(signal, format, &request);
  }
  if (cors) {
    response.headers.emplace_back("Access-Control-Allow-Origin", origin);
    response.headers.emplace_back("Vary", "Origin");
  }
  return response;
}

HttpResponse OtlpHttpHandler::Preflight(const HttpRequest& request, const std::string& origin) const {
  HttpResponse response;
  response.status = 204;
  response.content_type = "text/plain; charset=utf-8";
  if (OriginAllowed(origin)) {
    response.headers.emplace_back("Access-Control-Allow-Origin", origin);
    response.headers.emplace_back("Access-Control-Allow-Methods", "POST, OPTIONS");
    const std::string& asked = request.Header("access-control-request-headers");
    response.headers.emplace_back("Access-Control-Allow-Headers",
                                  asked.empty() ? "Content-Type, Content-Encoding, Authorization" : asked);
    response.headers.emplace_back("Access-Control-Max-Age", "600");
  }
  response.headers.emplace_back("Vary", "Origin");
  return response;
}

HttpResponse OtlpHttpHandler::Reject(Signal signal, RejectReason reason, int http_status, Format format,
                                     std::string message) {
  metrics_.Rejected(signal, reason);
  reject_log_.Rejected("http", signal, reason, message);
  const bool json = format == Format::kJson;
  HttpResponse response;
  response.status = http_status;
  response.content_type = json ? kJsonType : kProtobufType;
  response.body = StatusBody(GrpcCodeFor(http_status), message, json);
  return response;
}

HttpResponse OtlpHttpHandler::Export(Signal signal, Format format, HttpRequest* request_ptr) {
  HttpRequest& request = *request_ptr;
  ReceiverMetrics::SignalCounters& counters = metrics_.For(signal);
  counters.requests->Add();

  const std::string encoding = Encoding(request);
  std::string body;
  if (encoding.empty() || encoding == "identity") {
    if (request.body.size() > options_.max_decompressed_bytes) {
      return Reject(signal, RejectReason::kTooLarge, 413, format, "request body exceeds the size limit");
    }
    body = std::move(request.body);
  } else if (IsCompressed(encoding)) {
    absl::StatusOr<std::string> inflated = encoding == "deflate"
                                               ? DeflateDecompress(request.body, options_.max_decompressed_bytes)
                                               : GzipDecompress(request.body, options_.max_decompressed_bytes);
    if (absl::IsResourceExhausted(inflated.status())) {
      return Reject(signal, RejectReason::kTooLarge, 413, format, "decompressed body exceeds the size limit");
    }
    if (!inflated.ok()) {
      return Reject(signal, RejectReason::kInvalid, 400, format,
                    absl::StrCat(encoding, " body: ", inflated.status().message()));
    }
    NoteInflation(request.body.size(), inflated->size());
    body = *std::move(inflated);
  } else {
    return Reject(signal, RejectReason::kUnsupported, 415, format,
                  absl::StrCat("unsupported content encoding '", encoding, "'; use gzip, deflate or identity"));
  }

  if (format == Format::kJson) {
    absl::StatusOr<std::string> wire = OtlpJsonToProto(signal, body);
    if (!wire.ok()) {
      return Reject(signal, RejectReason::kInvalid, 400, format, std::string(ToStd(wire.status().message())));
    }
    body = *std::move(wire);
  }

  counters.bytes->Add(static_cast<int64_t>(body.size()));
  request.admission.reset();  // Accept admits the decoded body itself
  IngestResult result = ingest_.Accept(signal, std::move(body));
  switch (result.outcome) {
    case IngestOutcome::kAccepted: {
      HttpResponse response;
      response.status = 200;
      if (format == Format::kJson) {
        response.content_type = kJsonType;
        response.body = ExportResponseJson(signal, result.rejected_items, result.message);
      } else {
        response.content_type = kProtobufType;
        response.body = ExportResponseProto(result.rejected_items, result.message);
      }
      return response;
    }
    case IngestOutcome::kInvalid:
      return Reject(signal, RejectReason::kInvalid, 400, format,
                    result.message.empty() ? "invalid request" : result.message);
    case IngestOutcome::kOverloaded:
    case IngestOutcome::kShuttingDown:
      return Unavailable(signal, format, result.outcome == IngestOutcome::kOverloaded, result.retry_after);
  }
  return Reject(signal, RejectReason::kInvalid, 500, format, "unknown ingest outcome");
}

HttpResponse OtlpHttpHandler::Unavailable(Signal signal, Format format, bool overloaded, absl::Duration retry_after) {
  const std::string message = overloaded ? "gateway overloaded, retry later" : "gateway shutting down";
  const int64_t seconds =
      overloaded ? std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1)))) : 1;
  HttpResponse response =
      Reject(signal, overloaded ? RejectReason::kOverloaded : RejectReason::kShuttingDown, 503, format, message);
  // The delay twice: the Retry-After header, and a RetryInfo detail in the
  // Status body for clients that read that instead.
  response.headers.emplace_back("Retry-After", std::to_string(seconds));
  response.body = StatusBody(GrpcCodeFor(503), message, format == Format::kJson, absl::Seconds(seconds));
  return response;
}

}  // namespace gateway
