#include "gateway/export_loop_guard.h"

#include <unistd.h>

#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/host_port.h"

namespace gateway {
namespace {

bool IsThisHost(const std::string& host) {
  if (host.empty() || host == "localhost" || host == "0.0.0.0" || host == "::" || host == "::1" ||
      host.rfind("127.", 0) == 0) {
    return true;
  }
  char name[256] = {0};
  return ::gethostname(name, sizeof(name) - 1) == 0 && host == absl::AsciiStrToLower(name);
}

}  // namespace

ExportLoopGuard NewExportLoopGuard() {
  std::random_device random;
  const uint64_t id = (uint64_t{random()} << 32) ^ random();
  return ExportLoopGuard{absl::StrFormat("%016x", id)};
}

absl::Status CheckExportTarget(std::string_view export_url, std::string_view http_listen_address) {
  const HostPort listen = SplitAuthority(http_listen_address);
  if (listen.port <= 0 || export_url.empty()) return absl::OkStatus();
  std::string_view rest = export_url;
  int default_port = 443;
  if (const size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    if (absl::AsciiStrToLower(ToAbsl(rest.substr(0, scheme))) == "http") default_port = 80;
    rest.remove_prefix(scheme + 3);
  }
  HostPort target = SplitAuthority(rest.substr(0, rest.find('/')));
  if (target.port < 0) target.port = default_port;
  if (target.port != listen.port || !IsThisHost(absl::AsciiStrToLower(target.host))) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the export endpoint ", ToAbsl(export_url), " is this gateway's own OTLP/HTTP receiver (",
      ToAbsl(http_listen_address),
      "): it would export to itself without end. Point DT_ENDPOINT or exporter.otlphttp.endpoint at the next hop; "
      "if OTEL_EXPORTER_OTLP_ENDPOINT is set for the application, keep it out of the gateway's environment"));
}

}  // namespace gateway
