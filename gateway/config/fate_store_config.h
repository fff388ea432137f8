// The `reparent.fate_store:` section: the shared fate store that lets
// gateways which do not share a process follow producers moved by each other
// (off by default). docs/configuration.md lists the keys;
// docs/reparenting.md ("Across gateways") the rules.
//
//   FateStoreConfig c;
//   c.type = FateStoreType::kRedis;
//   c.redis.address = "my-cache.xxxxxx.use1.cache.amazonaws.com:6379";
//   c.redis.tls.enabled = true;
//   GATEWAY_RETURN_IF_ERROR(ValidateFateStoreConfig(c, reparent.hold_window));
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

enum class FateStoreType { kNone, kRedis };

struct FateStoreRedisTlsConfig {
  bool enabled = false;
  // Empty: the system's trust store.
  std::string ca_file;
  // Empty: the host of `address`.
  std::string server_name;
  // A client certificate, for servers that ask for one.
  std::string cert_file;
  std::string key_file;
};

struct FateStoreRedisConfig {
  std::string address = "127.0.0.1:6379";
  // AUTH: password alone (requirepass, ElastiCache AUTH token) or an ACL
  // user and its password. Secret: password.
  std::string username;
  std::string password;
  std::string key_prefix = "otlpgw:fate:";
  FateStoreRedisTlsConfig tls;
};

struct FateStoreConfig {
  FateStoreType type = FateStoreType::kNone;
  FateStoreRedisConfig redis;
  // How long the store keeps a published fate.
  absl::Duration ttl = absl::Minutes(10);
  // One round trip; slower counts as the store being down.
  absl::Duration timeout = absl::Milliseconds(200);
  absl::Duration connect_timeout = absl::Seconds(1);
  // Longest a consumer waits for the store's answer; below
  // reparent.hold_window.
  absl::Duration max_wait = absl::Seconds(5);
  // Fates to publish wait this long for more to share a round trip (in the
  // shard's gate, then in the client); a flush sends them at once.
  absl::Duration publish_linger = absl::Milliseconds(10);
  // Kinds of the spans whose fates are published (the link targets).
  std::vector<SpanKind> publish_kinds = {SpanKind::kProducer};
};

// Checks that name the key ("reparent.fate_store.max_wait: ...").
absl::Status ValidateFateStoreConfig(const FateStoreConfig& config, absl::Duration hold_window);

// "none", "redis".
std::string_view FateStoreTypeName(FateStoreType type);

}  // namespace gateway
