// A request header whose value can be replaced while requests are being
// sent: the Dynatrace API token, re-read from its file on SIGHUP. The
// transport reads the version with every request (one atomic load) and the
// value only when the version moved.
//
//   auto auth = std::make_shared<ReplaceableHeader>("Authorization", "Api-Token " + token);
//   options.replaceable_header = auth;               // the exporter's transport
//   ...
//   absl::StatusOr<std::string> next = ReadSecretFile(path);   // on SIGHUP
//   if (next.ok()) auth->Replace("Api-Token " + *next);
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/base/sync.h"

namespace gateway {

class ReplaceableHeader final {
 public:
  ReplaceableHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  ReplaceableHeader(const ReplaceableHeader&) = delete;
  ReplaceableHeader& operator=(const ReplaceableHeader&) = delete;

  const std::string& name() const { return name_; }

  // Starts at 0, one more after each Replace. Any thread.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // The current value. Any thread.
  std::string value() const {
    MutexLock lock(&mu_);
    return value_;
  }

  // Requests started after this returns carry `value`. Any thread.
  void Replace(std::string value) {
    {
      MutexLock lock(&mu_);
      value_ = std::move(value);
    }
    version_.fetch_add(1, std::memory_order_acq_rel);
  }

 private:
  const std::string name_;
  mutable Mutex mu_;
  std::string value_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_{0};
};

// The contents of a file holding one secret (a token), surrounding
// whitespace and newlines removed. NotFound / PermissionDenied-like errors
// name the file; an empty file is InvalidArgument.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace gateway
