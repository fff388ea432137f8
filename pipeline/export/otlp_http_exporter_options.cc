// OtlpHttpExporterOptions helpers: the Dynatrace preset, the URL of a
// signal, and the transport options an exporter's options imply.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/export/otlp_http_exporter.h"

namespace gateway {

OtlpHttpExporterOptions ForDynatrace(std::string endpoint, std::string api_token) {
  OtlpHttpExporterOptions options;
  options.endpoint = std::move(endpoint);
  options.headers.emplace_back("Authorization", absl::StrCat("Api-Token ", api_token));
  return options;
}

std::string ExportUrl(const OtlpHttpExporterOptions& options, Signal signal) {
  const std::string& full = options.signal_endpoint[static_cast<int>(signal)];
  if (!full.empty()) return full;
  std::string base = options.endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return absl::StrCat(base, "/v1/", ToAbsl(SignalName(signal)));
}

HttpTransportOptions ExportTransportOptions(const OtlpHttpExporterOptions& options) {
  HttpTransportOptions transport;
  transport.headers.emplace_back("Content-Type", "application/x-protobuf");
  if (options.gzip) transport.headers.emplace_back("Content-Encoding", "gzip");
  const ReplaceableHeader* replaced = options.replaceable_header.get();
  for (const auto& header : options.headers) {
    if (replaced == nullptr || !absl::EqualsIgnoreCase(header.first, replaced->name())) transport.headers.push_back(header);
  }
  transport.replaceable_header = options.replaceable_header;
  transport.connect_timeout = options.connect_timeout;
  transport.request_timeout = options.request_timeout;
  transport.max_connections = std::max(1, options.max_concurrent_requests);
  transport.ca_file = options.ca_file;
  return transport;
}

}  // namespace gateway
