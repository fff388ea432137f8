// One connection to a Redis server (plain TCP or TLS through OpenSSL) that
// sends pipelined commands and reads their replies, every step bounded by a
// deadline. hiredis (Debian's 0.14, which has no TLS) parses the replies;
// the socket, TLS and the command encoding (RESP arrays of bulk strings) are
// ours, so both transports share one code path and one timeout rule.
//
//   absl::StatusOr<std::shared_ptr<RedisTlsContext>> tls = NewRedisTlsContext(tls_options);
//   absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
//       RedisConnection::Connect("10.0.3.7", 6379, tls->get(), deadline);
//   std::string request;
//   AppendRedisCommand({"GET", key}, &request);
//   std::vector<RedisReply> replies;
//   absl::Status s = (*conn)->Exchange(request, 1, deadline, &replies);
//
// Not thread-safe: one owner thread. After any error the connection is
// unusable (a reply may be half read): drop it and connect again.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gateway {

struct RedisTlsOptions {
  bool enabled = false;
  // PEM file of the CAs that sign the server's certificate; empty: the
  // system's trust store (what ElastiCache and MemoryDB certificates chain
  // to).
  std::string ca_file;
  // The name checked against the server's certificate and sent as SNI;
  // empty: the host the connection goes to.
  std::string server_name;
  // Client certificate and key (PEM), for servers that ask for one; both or
  // neither.
  std::string cert_file;
  std::string key_file;
};

// An OpenSSL client context, shared by the connections made from it.
class RedisTlsContext;

// Null when options.enabled is false. Errors name the file that failed.
absl::StatusOr<std::shared_ptr<RedisTlsContext>> NewRedisTlsContext(const RedisTlsOptions& options);

// A parsed reply: the types a fate store needs. Arrays are not expected and
// read as kError.
struct RedisReply {
  enum class Type : uint8_t { kString, kStatus, kInteger, kNil, kError };
  Type type = Type::kNil;
  // kString, kStatus and kError text.
  std::string text;
  int64_t integer = 0;
};

// Appends one command in RESP (an array of bulk strings), allocation-free
// once `out` has grown.
void AppendRedisCommand(std::initializer_list<std::string_view> args, std::string* out);

class RedisConnection final {
 public:
  // Resolves `host` (each connect resolves again: a managed service's
  // failover moves its DNS name), connects and, with `tls`, completes the
  // handshake and checks the certificate, all before `deadline`.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(const std::string& host, int port,
                                                                  RedisTlsContext* tls, absl::Time deadline);
  ~RedisConnection();

  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Writes `request` (commands from AppendRedisCommand) and reads `replies`
  // replies into `out` (resized to `replies`; on an error its contents are
  // unspecified), before `deadline`. kUnavailable
  // when the connection fails, kDeadlineExceeded when time runs out,
  // kInternal for a reply hiredis cannot parse.
  absl::Status Exchange(std::string_view request, size_t replies, absl::Time deadline,
                        std::vector<RedisReply>* out);

 private:
  struct Impl;
  explicit RedisConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gateway
