#include "tests/fakes/otel_collector.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gateway::testing {
namespace {

constexpr char kBinaryName[] = "otelcol-gateway-test";

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

absl::StatusOr<std::string> OtelCollector::FindBinary() {
  if (const char* env = std::getenv("GATEWAY_OTELCOL"); env != nullptr && *env != '\0') {
    if (::access(env, X_OK) == 0) return std::string(env);
    return absl::NotFoundError(absl::StrCat("GATEWAY_OTELCOL=", env, " is not an executable"));
  }
  // Runfiles are symlinks into the source tree; .deps sits at its root.
  std::vector<std::string> candidates;
  if (const char* srcdir = std::getenv("TEST_SRCDIR"); srcdir != nullptr) {
    const char* workspace = std::getenv("TEST_WORKSPACE");
    const std::filesystem::path go_sum = std::filesystem::path(srcdir) / (workspace ? workspace : "") /
                                         "tests/go/collector/go.sum";
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::canonical(go_sum, ec);
    if (!ec) candidates.push_back((real.parent_path() / "../../../.deps/bin" / kBinaryName).lexically_normal());
  }
  candidates.push_back(absl::StrCat(".deps/bin/", kBinaryName));
  for (const std::string& path : candidates) {
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::NotFoundError(absl::StrCat("the OpenTelemetry Collector (", kBinaryName,
                                          ") is not built: run scripts/install_deps.sh --test (looked at ",
                                          candidates.front(), ")"));
}

absl::StatusOr<std::unique_ptr<OtelCollector>> OtelCollector::Start(const std::string& binary,
                                                                     const std::function<std::string(int)>& config,
                                                                     absl::Duration timeout) {
  static int instance = 0;
  const absl::Time deadline = absl::Now() + timeout;
  std::string last_log;
  for (int attempt = 0; attempt < 3 && absl::Now() < deadline; ++attempt) {
    auto c = std::unique_ptr<OtelCollector>(new OtelCollector());
    c->port_ = FreePort();
    const std::string stem = absl::StrCat(TempDir(), "/otelcol-", ::getpid(), "-", instance++);
    const std::string config_path = stem + ".yaml";
    c->log_path_ = stem + ".log";
    {
      std::ofstream out(config_path);
      out << config(c->port_);
      if (!out) return absl::InternalError(absl::StrCat("cannot write ", config_path));
    }
    ChildProcessOptions options;
    options.argv = {binary, "--config=" + config_path};
    options.stdout_to = ChildOutput::File(c->log_path_);
    options.stderr_to = options.stdout_to;
    absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(options);
    if (!process.ok()) return process.status();
    c->process_ = *std::move(process);
    // An empty request, answered 200 once the receiver is up. Bounded by the
    // deadline; polls every 50 ms.
    const std::string url = absl::StrCat(c->http_url(), "/v1/metrics");
    while (absl::Now() < deadline && c->process_->Running()) {
      if (PostProtobuf(url, "", nullptr, absl::Seconds(1)) == 200) return c;
      absl::SleepFor(absl::Milliseconds(50));
    }
    last_log = c->Log();
  }
  return absl::DeadlineExceededError(absl::StrCat("the Collector did not come up; its log:\n", last_log));
}

OtelCollector::~OtelCollector() {
  if (process_ == nullptr) return;
  // SIGKILL (process_'s destructor) if it has not exited by then.
  process_->Signal(SIGTERM);
  process_->Wait(absl::Now() + absl::Seconds(10));
}

std::string OtelCollector::http_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::string OtelCollector::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int PostProtobuf(const std::string& url, const std::string& body, std::string* response, absl::Duration timeout) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return 0;
  std::string sink;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, response != nullptr ? response : &sink);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return static_cast<int>(status);
}

}  // namespace gateway::testing
