// The JSON documents of the AWS Lambda Extensions API (2020-01-01) and
// Telemetry API (2022-07-01) that the extension reads and writes, as plain
// structs, parsed and rendered with Boost.JSON.
//
//   absl::StatusOr<LifecycleEvent> e = ParseLifecycleEvent(body, clock.Now());
//   if (e->type == LifecycleEventType::kInvoke) ... e->request_id, e->deadline
//
//   absl::StatusOr<std::vector<PlatformEvent>> events = ParseTelemetryBatch(post_body);
//   for (const PlatformEvent& p : *events) if (p.type == "platform.runtimeDone") ...
//
//   std::string body = RenderTelemetrySubscription(subscription);  // PUT /2022-07-01/telemetry
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gateway::lambda {

enum class LifecycleEventType { kInvoke, kShutdown };

// The body of GET /2020-01-01/extension/event/next.
struct LifecycleEvent {
  LifecycleEventType type = LifecycleEventType::kInvoke;
  // INVOKE: the invocation's request id.
  std::string request_id;
  // When the phase must be over: for INVOKE the function's timeout, for
  // SHUTDOWN the end of the shutdown phase.
  absl::Time deadline = absl::InfiniteFuture();
  // SHUTDOWN: "spindown", "timeout" or "failure" (as Lambda sends it).
  std::string shutdown_reason;
};

// Parses an INVOKE or SHUTDOWN event. `deadlineMs` is milliseconds since the
// Unix epoch as Lambda sends it; a value below 10^11 (before 1973) is read as
// milliseconds from `now`, the other reading AWS's documentation gives for
// SHUTDOWN. Numbers and numeric strings are both accepted. Errors name the
// field.
absl::StatusOr<LifecycleEvent> ParseLifecycleEvent(std::string_view json, absl::Time now);

// One event of a Telemetry API batch that the extension cares about: a
// platform event about an invocation.
struct PlatformEvent {
  // "platform.start", "platform.runtimeDone", "platform.report", ...
  std::string type;
  // record.requestId; empty when the record has none.
  std::string request_id;
  // record.status ("success", "failure", "error", "timeout"); may be empty.
  std::string status;
};

// Parses the body Lambda POSTs to the telemetry listener (a JSON array of
// {time, type, record}). Keeps events whose type starts with "platform.";
// function and extension log lines are skipped. An array element that is
// not an object is skipped; a body that is not a JSON array is an error.
absl::StatusOr<std::vector<PlatformEvent>> ParseTelemetryBatch(std::string_view json);

// PUT /2022-07-01/telemetry request: platform events over HTTP.
struct TelemetrySubscription {
  // e.g. "http://sandbox.localdomain:4243/telemetry"
  std::string destination_uri;
  std::vector<std::string> types = {"platform"};
  // The API's minimums: delivery at most 25 ms after an event.
  int buffering_timeout_ms = 25;
  int buffering_max_items = 1000;
  int buffering_max_bytes = 262144;
};
std::string RenderTelemetrySubscription(const TelemetrySubscription& subscription);

// POST /2020-01-01/extension/register body: {"events":["INVOKE","SHUTDOWN"]}.
std::string RenderRegisterRequest();

// Fields of the register response the extension logs.
struct RegisterInfo {
  std::string function_name;
  std::string function_version;
  std::string handler;
};
// Lenient: missing fields stay empty; a body that is not a JSON object is an
// error.
absl::StatusOr<RegisterInfo> ParseRegisterResponse(std::string_view json);

// The ErrorRequest body of /extension/init/error and /extension/exit/error.
std::string RenderErrorRequest(std::string_view error_type, std::string_view message);

}  // namespace gateway::lambda
