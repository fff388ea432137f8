#include "gateway/lambda/lambda_events.h"

#include <cmath>
#include <cstdint>
#include <string>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"

namespace gateway::lambda {
namespace {

namespace json = ::boost::json;

// Milliseconds since the epoch from 1973 on; below that, a remaining time.
constexpr double kEpochMillisFloor = 1e11;

absl::StatusOr<json::value> Parse(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("not JSON: ", ec.message()));
  return value;
}

std::string StringField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || !v->is_string()) return "";
  return std::string(v->get_string());
}

// deadlineMs as a number of milliseconds, from a number or a numeric string.
absl::StatusOr<double> Millis(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  if (v.is_string()) {
    double d = 0;
    const json::string& s = v.get_string();
    if (absl::SimpleAtod(absl::string_view(s.data(), s.size()), &d)) return d;
  }
  return absl::InvalidArgumentError("deadlineMs: not a number");
}

}  // namespace

absl::StatusOr<LifecycleEvent> ParseLifecycleEvent(std::string_view text, absl::Time now) {
  absl::StatusOr<json::value> value = Parse(text);
  if (!value.ok()) return absl::InvalidArgumentError(absl::StrCat("lifecycle event: ", value.status().message()));
  if (!value->is_object()) return absl::InvalidArgumentError("lifecycle event: not a JSON object");
  const json::object& object = value->get_object();
  LifecycleEvent event;
  const std::string type = StringField(object, "eventType");
  if (type == "INVOKE") {
    event.type = LifecycleEventType::kInvoke;
    event.request_id = StringField(object, "requestId");
    if (event.request_id.empty()) return absl::InvalidArgumentError("lifecycle event: INVOKE without requestId");
  } else if (type == "SHUTDOWN") {
    event.type = LifecycleEventType::kShutdown;
    event.shutdown_reason = StringField(object, "shutdownReason");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("lifecycle event: eventType \"", type, "\" is unknown"));
  }
  if (const json::value* deadline = object.if_contains("deadlineMs"); deadline != nullptr) {
    absl::StatusOr<double> ms = Millis(*deadline);
    if (!ms.ok() || !std::isfinite(*ms) || *ms < 0) {
      return absl::InvalidArgumentError("lifecycle event: deadlineMs is not a non-negative number");
    }
    event.deadline = *ms >= kEpochMillisFloor ? absl::FromUnixMillis(static_cast<int64_t>(*ms))
                                              : now + absl::Milliseconds(*ms);
  }
  return event;
}

absl::StatusOr<std::vector<PlatformEvent>> ParseTelemetryBatch(std::string_view text) {
  absl::StatusOr<json::value> value = Parse(text);
  if (!value.ok()) return absl::InvalidArgumentError(absl::StrCat("telemetry batch: ", value.status().message()));
  if (!value->is_array()) return absl::InvalidArgumentError("telemetry batch: not a JSON array");
  std::vector<PlatformEvent> events;
  for (const json::value& element : value->get_array()) {
    if (!element.is_object()) continue;
    const json::object& object = element.get_object();
    PlatformEvent event;
    event.type = StringField(object, "type");
    if (event.type.rfind("platform.", 0) != 0) continue;
    if (const json::value* record = object.if_contains("record"); record != nullptr && record->is_object()) {
      event.request_id = StringField(record->get_object(), "requestId");
      event.status = StringField(record->get_object(), "status");
    }
    events.push_back(std::move(event));
  }
  return events;
}

std::string RenderTelemetrySubscription(const TelemetrySubscription& subscription) {
  json::object body;
  body["schemaVersion"] = "2022-07-01";
  json::array types;
  for (const std::string& type : subscription.types) types.emplace_back(type);
  body["types"] = std::move(types);
  body["buffering"] = json::object{{"maxItems", subscription.buffering_max_items},
                                   {"maxBytes", subscription.buffering_max_bytes},
                                   {"timeoutMs", subscription.buffering_timeout_ms}};
  body["destination"] = json::object{{"protocol", "HTTP"}, {"URI", subscription.destination_uri}};
  return json::serialize(body);
}

std::string RenderRegisterRequest() { return R"({"events":["INVOKE","SHUTDOWN"]})"; }

absl::StatusOr<RegisterInfo> ParseRegisterResponse(std::string_view text) {
  absl::StatusOr<json::value> value = Parse(text);
  if (!value.ok()) return absl::InvalidArgumentError(absl::StrCat("register response: ", value.status().message()));
  if (!value->is_object()) return absl::InvalidArgumentError("register response: not a JSON object");
  const json::object& object = value->get_object();
  return RegisterInfo{StringField(object, "functionName"), StringField(object, "functionVersion"),
                      StringField(object, "handler")};
}

std::string RenderErrorRequest(std::string_view error_type, std::string_view message) {
  json::object body;
  body["errorType"] = json::string_view(error_type.data(), error_type.size());
  body["errorMessage"] = json::string_view(message.data(), message.size());
  body["stackTrace"] = json::array();
  return json::serialize(body);
}

}  // namespace gateway::lambda
