#include "pipeline/reparent/redis_fate_store.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/host_port.h"

namespace gateway {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseTraceHex(std::string_view text, TraceId* out) {
  if (text.size() != 2 * TraceId::kSize) return false;
  for (size_t i = 0; i < TraceId::kSize; ++i) {
    const int hi = HexDigit(text[2 * i]);
    const int lo = HexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out->IsValid();
}

class RedisFateStore final : public FateStore {
 public:
  RedisFateStore(const RedisFateStoreOptions& options, std::string host, int port,
                 std::shared_ptr<RedisTlsContext> tls)
      : options_(options), host_(std::move(host)), port_(port), tls_(std::move(tls)) {}

  absl::Status RoundTrip(absl::Span<const StoredFate> publish, absl::Duration ttl,
                         absl::Span<const StoredFateKey> lookup, absl::Duration timeout,
                         std::vector<std::optional<TraceId>>* found) override {
    found->clear();
    if (connection_ == nullptr) {
      if (absl::Status connected = Connect(); !connected.ok()) return connected;
    }
    request_.clear();
    const std::string ttl_ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl)));
    for (const StoredFate& record : publish) {
      SetKey(record.query);
      value_.clear();
      AppendHex(record.new_trace, &value_);
      AppendRedisCommand({"SET", key_, value_, "PX", ttl_ms}, &request_);
    }
    for (const StoredFateKey& query : lookup) {
      SetKey(query);
      AppendRedisCommand({"GET", key_}, &request_);
    }
    const absl::Status exchanged =
        connection_->Exchange(request_, publish.size() + lookup.size(), absl::Now() + timeout, &replies_);
    if (!exchanged.ok()) {
      connection_.reset();
      return exchanged;
    }
    for (size_t i = 0; i < publish.size(); ++i) {
      if (replies_[i].type != RedisReply::Type::kStatus) return Refused("SET", replies_[i]);
    }
    found->reserve(lookup.size());
    for (size_t i = 0; i < lookup.size(); ++i) {
      const RedisReply& reply = replies_[publish.size() + i];
      TraceId trace;
      if (reply.type == RedisReply::Type::kNil) {
        found->emplace_back();
      } else if (reply.type == RedisReply::Type::kString && ParseTraceHex(reply.text, &trace)) {
        found->emplace_back(trace);
      } else if (reply.type == RedisReply::Type::kString) {
        // Not ours (another writer under our prefix): as good as absent.
        found->emplace_back();
      } else {
        found->clear();
        return Refused("GET", reply);
      }
    }
    return absl::OkStatus();
  }

  std::string Describe() const override {
    return absl::StrCat("redis ", options_.address, tls_ != nullptr ? " tls" : "",
                        options_.password.empty() ? "" : " auth",
                        options_.username.empty() ? "" : absl::StrCat(" user=", options_.username));
  }

 private:
  // key_ = <prefix><trace hex>:<span hex>, in place.
  void SetKey(const StoredFateKey& query) {
    key_.assign(options_.key_prefix);
    AppendHex(query.original_trace, &key_);
    key_.push_back(':');
    AppendHex(query.span, &key_);
  }
  template <size_t N>
  static void AppendHex(const OtelId<N>& id, std::string* out) {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (uint8_t b : id.bytes) {
      out->push_back(kDigits[b >> 4]);
      out->push_back(kDigits[b & 0xf]);
    }
  }

  // An error reply (READONLY after a failover, OOM, MOVED from a second
  // shard, NOAUTH): the connection is dropped, so the next round trip
  // connects (and resolves the name) again.
  absl::Status Refused(std::string_view command, const RedisReply& reply) {
    connection_.reset();
    return absl::UnavailableError(absl::StrCat("redis: ", ToAbsl(command), " refused: ", reply.text.substr(0, 200)));
  }

  absl::Status Connect() {
    const absl::Time deadline = absl::Now() + options_.connect_timeout;
    absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
        RedisConnection::Connect(host_, port_, tls_.get(), deadline);
    if (!connection.ok()) return connection.status();
    if (!options_.password.empty()) {
      request_.clear();
      if (options_.username.empty()) {
        AppendRedisCommand({"AUTH", options_.password}, &request_);
      } else {
        AppendRedisCommand({"AUTH", options_.username, options_.password}, &request_);
      }
      const absl::Status exchanged = (*connection)->Exchange(request_, 1, deadline, &replies_);
      if (!exchanged.ok()) return exchanged;
      if (replies_[0].type != RedisReply::Type::kStatus) {
        // The server's text names the reason (WRONGPASS, no password set)
        // and never the password.
        return absl::PermissionDeniedError(absl::StrCat("redis: AUTH refused: ", replies_[0].text.substr(0, 200)));
      }
    }
    connection_ = *std::move(connection);
    return absl::OkStatus();
  }

  const RedisFateStoreOptions options_;
  const std::string host_;
  const int port_;
  const std::shared_ptr<RedisTlsContext> tls_;
  std::unique_ptr<RedisConnection> connection_;
  // Scratch space reused across round trips.
  std::string request_;
  std::string key_;
  std::string value_;
  std::vector<RedisReply> replies_;
};

}  // namespace

bool SplitRedisAddress(const std::string& address, std::string* host, int* port) {
  const absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok() || parsed->host.empty() || parsed->port == 0) return false;
  *host = parsed->host;
  *port = parsed->port;
  return true;
}

absl::StatusOr<std::unique_ptr<FateStore>> NewRedisFateStore(const RedisFateStoreOptions& options) {
  std::string host;
  int port = 0;
  if (!SplitRedisAddress(options.address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis address: must be host:port (e.g. 127.0.0.1:6379), got \"", options.address, "\""));
  }
  absl::StatusOr<std::shared_ptr<RedisTlsContext>> tls = NewRedisTlsContext(options.tls);
  if (!tls.ok()) return tls.status();
  return std::unique_ptr<FateStore>(new RedisFateStore(options, std::move(host), port, *std::move(tls)));
}

}  // namespace gateway
