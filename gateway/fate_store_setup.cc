#include "gateway/fate_store_setup.h"

#include "absl/strings/str_cat.h"
#include "pipeline/base/logging.h"
#include "pipeline/reparent/redis_fate_store.h"

namespace gateway {

absl::StatusOr<std::unique_ptr<FateStoreClient>> StartFateStore(const FateStoreConfig& config,
                                                                 MetricsRegistry& metrics, const Clock& clock) {
  if (config.type == FateStoreType::kNone) return std::unique_ptr<FateStoreClient>();
  RedisFateStoreOptions redis;
  redis.address = config.redis.address;
  redis.username = config.redis.username;
  redis.password = config.redis.password;
  redis.key_prefix = config.redis.key_prefix;
  redis.tls.enabled = config.redis.tls.enabled;
  redis.tls.ca_file = config.redis.tls.ca_file;
  redis.tls.server_name = config.redis.tls.server_name;
  redis.tls.cert_file = config.redis.tls.cert_file;
  redis.tls.key_file = config.redis.tls.key_file;
  redis.connect_timeout = config.connect_timeout;
  absl::StatusOr<std::unique_ptr<FateStore>> store = NewRedisFateStore(redis);
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("reparent.fate_store: ", store.status().message()));
  }
  FateStoreClientOptions options;
  options.publish_kinds = config.publish_kinds;
  options.max_wait = config.max_wait;
  options.ttl = config.ttl;
  options.timeout = config.timeout;
  options.publish_linger = config.publish_linger;
  LogInfo("fate_store", {{"store", (*store)->Describe()}, {"ttl", absl::FormatDuration(config.ttl)},
                         {"max_wait", absl::FormatDuration(config.max_wait)}});
  return std::make_unique<FateStoreClient>(options, *std::move(store), metrics, clock);
}

std::vector<std::pair<std::string, std::string>> FateStoreStatusRows(const FateStoreClient& client) {
  const FateStoreSnapshot s = client.Snapshot();
  std::vector<std::pair<std::string, std::string>> rows = {
      {"store", s.store},
      {"state", s.up ? "up" : "down (consumers are decided as without a store)"},
      {"round trips", absl::StrCat(s.round_trips, " (", s.round_trip_errors, " failed)")},
      {"fates published", absl::StrCat(s.published)},
      {"lookups found / absent", absl::StrCat(s.lookups_found, " / ", s.lookups_absent)},
      {"decided without the store", absl::StrCat(s.degraded)},
      {"waiting for an answer", absl::StrCat(s.waiting)},
  };
  if (!s.last_error.empty()) rows.emplace_back("last error", s.last_error);
  return rows;
}

}  // namespace gateway
