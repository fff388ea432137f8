#include "gateway/config/fate_store_config.h"

#include "absl/strings/str_cat.h"
#include "pipeline/base/host_port.h"

namespace gateway {

absl::Status ValidateFateStoreConfig(const FateStoreConfig& c, absl::Duration hold_window) {
  if (c.type == FateStoreType::kNone) return absl::OkStatus();
  const std::string& address = c.redis.address;
  const absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok() || parsed->host.empty() || parsed->port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reparent.fate_store.redis.address: must be host:port (e.g. 127.0.0.1:6379), got \"", address, "\""));
  }
  if (!c.redis.username.empty() && c.redis.password.empty()) {
    return absl::InvalidArgumentError(
        "reparent.fate_store.redis.password: must be set when reparent.fate_store.redis.username is");
  }
  if (c.redis.tls.cert_file.empty() != c.redis.tls.key_file.empty()) {
    return absl::InvalidArgumentError("reparent.fate_store.redis.tls: cert_file and key_file must be set together");
  }
  for (const auto& [key, value] : {std::pair<const char*, absl::Duration>{"ttl", c.ttl},
                                   {"timeout", c.timeout},
                                   {"connect_timeout", c.connect_timeout},
                                   {"max_wait", c.max_wait}}) {
    if (value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("reparent.fate_store.", key, ": must be greater than 0"));
    }
  }
  if (c.publish_linger > absl::Seconds(1)) {
    return absl::InvalidArgumentError("reparent.fate_store.publish_linger: must be at most 1s");
  }
  if (c.max_wait >= hold_window) {
    return absl::InvalidArgumentError(
        "reparent.fate_store.max_wait: must be below reparent.hold_window (a consumer's held children wait for it "
        "that long)");
  }
  if (c.ttl < c.max_wait) {
    return absl::InvalidArgumentError("reparent.fate_store.ttl: must be at least reparent.fate_store.max_wait");
  }
  if (c.publish_kinds.empty()) {
    return absl::InvalidArgumentError("reparent.fate_store.publish_kinds: must name at least one span kind");
  }
  return absl::OkStatus();
}

std::string_view FateStoreTypeName(FateStoreType type) { return type == FateStoreType::kRedis ? "redis" : "none"; }

}  // namespace gateway
