// Keeps the gateway from exporting to itself, which happens when the
// OTEL_EXPORTER_OTLP_ENDPOINT meant for an application is inherited by the
// gateway's container: every export would come back as a new request and be
// exported again, without end.
//
//   ExportLoopGuard guard = NewExportLoopGuard();
//   RETURN_IF_ERROR(CheckExportTarget(export_url, http_listen_address));  // at start-up
//   exporter_options.headers.emplace_back(kGatewayInstanceHeader, guard.instance_id);
//   handler_options.own_instance_id = guard.instance_id;  // refuses our own exports (508)
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace gateway {

// Sent with every export; a receiver that sees its own id refuses the request.
inline constexpr char kGatewayInstanceHeader[] = "X-Otlp-Reparent-Gateway-Instance";

struct ExportLoopGuard {
  // Random, 16 hex digits, new for every process.
  std::string instance_id;
};

ExportLoopGuard NewExportLoopGuard();

// FailedPrecondition when `export_url` (scheme://host:port/path) names this
// gateway's own OTLP/HTTP receiver at `http_listen_address` (host:port): the
// same port on a loopback or wildcard address, "localhost", or this host's
// name. The message says which setting to change. OK otherwise, and when the
// receiver's port is 0 (chosen at bind time) or the URL has no port and the
// scheme's default port differs.
absl::Status CheckExportTarget(std::string_view export_url, std::string_view http_listen_address);

}  // namespace gateway
