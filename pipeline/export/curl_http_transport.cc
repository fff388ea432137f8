#include "pipeline/export/curl_http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {
namespace {

void GlobalInitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A transfer on the wire and what has come back so far.
struct Transfer {
  uint64_t id = 0;
  size_t max_body_bytes = 0;
  std::string response_body;
  std::string retry_after;
  char error[CURL_ERROR_SIZE] = {0};
  // The header list the transfer was started with (CURLOPT_HTTPHEADER
  // needs it until the end).
  std::shared_ptr<curl_slist> headers;
};

size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const size_t room = transfer->max_body_bytes - std::min(transfer->max_body_bytes, transfer->response_body.size());
  transfer->response_body.append(data, std::min(n, room));
  return n;
}

size_t HeaderCallback(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    transfer->retry_after.clear();  // a new response (e.g. after 100 Continue)
    return n;
  }
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lower = absl::AsciiStrToLower(ToAbsl(line.substr(0, kName.size())));
    if (lower == kName) {
      transfer->retry_after =
          std::string(absl::StripAsciiWhitespace(ToAbsl(line.substr(kName.size()))));
    }
  }
  return n;
}

class CurlHttpTransport final : public HttpTransport {
 public:
  explicit CurlHttpTransport(const HttpTransportOptions& options) : options_(options) {
    GlobalInitCurl();
    BuildHeaders();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(std::max(1, options_.max_connections)));
  }

  ~CurlHttpTransport() override {
    AbortAll();
    for (CURL* easy : free_handles_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
  }

  void Start(uint64_t id, const std::string& url, std::string_view body) override {
    auto transfer = std::make_unique<Transfer>();
    transfer->id = id;
    transfer->max_body_bytes = options_.max_response_body_bytes;
    if (options_.replaceable_header != nullptr && options_.replaceable_header->version() != headers_version_) {
      BuildHeaders();  // transfers in flight keep the list they started with
    }
    transfer->headers = headers_;
    CURL* easy = AcquireHandle();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "otlp-reparent-gateway");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteCallback);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HeaderCallback);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
    if (!options_.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
      curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
    }
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_multi_add_handle(multi_, easy);
    transfers_[easy] = std::move(transfer);
  }

  void Perform(std::vector<HttpCompletion>* completed) override {
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      transfers_.erase(it);
      curl_multi_remove_handle(multi_, easy);
      HttpCompletion done;
      done.id = transfer->id;
      if (code != CURLE_OK) {
        done.error = code == CURLE_OPERATION_TIMEDOUT ? TransportError::kTimeout : TransportError::kNetwork;
        done.error_message = transfer->error[0] != '\0' ? transfer->error : curl_easy_strerror(code);
      } else {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &done.status);
        done.retry_after = std::move(transfer->retry_after);
        done.body = std::move(transfer->response_body);
      }
      ReleaseHandle(easy);
      completed->push_back(std::move(done));
    }
  }

  void Wait(absl::Duration timeout) override {
    curl_multi_poll(multi_, nullptr, 0, static_cast<int>(absl::ToInt64Milliseconds(timeout)), nullptr);
  }

  void Wakeup() override { curl_multi_wakeup(multi_); }

  std::vector<uint64_t> AbortAll() override {
    std::vector<uint64_t> ids;
    for (auto& [easy, transfer] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
      ReleaseHandle(easy);
      ids.push_back(transfer->id);
    }
    transfers_.clear();
    return ids;
  }

 private:
  // The static headers, then the replaceable one at its current version.
  void BuildHeaders() {
    curl_slist* list = nullptr;
    for (const auto& [name, value] : options_.headers) {
      list = curl_slist_append(list, absl::StrCat(name, ": ", value).c_str());
    }
    if (const ReplaceableHeader* header = options_.replaceable_header.get(); header != nullptr) {
      headers_version_ = header->version();
      list = curl_slist_append(list, absl::StrCat(header->name(), ": ", header->value()).c_str());
    }
    // Large POSTs would otherwise wait for "100 Continue".
    list = curl_slist_append(list, "Expect:");
    headers_ = std::shared_ptr<curl_slist>(list, &curl_slist_free_all);
  }

  CURL* AcquireHandle() {
    if (free_handles_.empty()) return curl_easy_init();
    CURL* easy = free_handles_.back();
    free_handles_.pop_back();
    curl_easy_reset(easy);
    return easy;
  }

  void ReleaseHandle(CURL* easy) { free_handles_.push_back(easy); }

  const HttpTransportOptions options_;
  // The request headers of the replaceable header's version headers_version_.
  std::shared_ptr<curl_slist> headers_;
  uint64_t headers_version_ = 0;
  CURLM* multi_ = nullptr;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::vector<CURL*> free_handles_;
};

}  // namespace

std::unique_ptr<HttpTransport> NewCurlHttpTransport(const HttpTransportOptions& options) {
  return std::make_unique<CurlHttpTransport>(options);
}

}  // namespace gateway
