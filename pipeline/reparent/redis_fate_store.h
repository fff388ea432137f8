// The FateStore on Redis (any server speaking RESP2: Debian's redis-server,
// ElastiCache, MemoryDB with one shard). Each fate is one string key,
//
//   <key_prefix><original trace id hex>:<span id hex>  ->  <new trace id hex>
//
// written with SET ... PX <ttl> and read with GET, all commands of a round
// trip pipelined on one connection (GET rather than MGET, so a cluster-mode
// endpoint with a single shard accepts keys of any hash slot).
//
//   RedisFateStoreOptions options;
//   options.address = "my-cache.xxxxxx.use1.cache.amazonaws.com:6379";
//   options.tls.enabled = true;
//   options.username = "gateway";
//   options.password = token;
//   absl::StatusOr<std::unique_ptr<FateStore>> store = NewRedisFateStore(options);
//
// The connection is made on the first round trip and again after any error
// (DNS resolved each time); AUTH is sent on every new connection.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pipeline/reparent/fate_store.h"
#include "pipeline/reparent/redis_connection.h"

namespace gateway {

struct RedisFateStoreOptions {
  // host:port; an IPv6 address in brackets.
  std::string address = "127.0.0.1:6379";
  // AUTH: a password alone (requirepass, or an ElastiCache AUTH token), or
  // an ACL user and its password. Empty password: no AUTH.
  std::string username;
  std::string password;
  RedisTlsOptions tls;
  std::string key_prefix = "otlpgw:fate:";
  // Connect (TCP, TLS handshake, AUTH) before a round trip gives up.
  absl::Duration connect_timeout = absl::Seconds(1);
};

// Errors: a malformed address, an unreadable TLS file.
absl::StatusOr<std::unique_ptr<FateStore>> NewRedisFateStore(const RedisFateStoreOptions& options);

// "host:port" split; false when malformed. For config validation too.
bool SplitRedisAddress(const std::string& address, std::string* host, int* port);

}  // namespace gateway
