// The reparent.fate_store: section: keys, defaults, validation, rendering.
#include "gateway/config/fate_store_config.h"

#include <string>

#include "absl/strings/match.h"
#include "gateway/config/config.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

absl::StatusOr<GatewayConfig> Load(std::string_view yaml) {
  absl::StatusOr<GatewayConfig> config = LoadConfig(yaml, MapEnv({{"REDIS_TOKEN", "s3cret-token"}}));
  if (!config.ok()) return config;
  absl::Status valid = ValidateConfig(*config);
  if (!valid.ok()) return valid;
  return config;
}

TEST(FateStoreConfigTest, OffByDefault) {
  absl::StatusOr<GatewayConfig> config = Load("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->fate_store.type, FateStoreType::kNone);
  EXPECT_EQ(config->fate_store.publish_kinds, std::vector<SpanKind>{SpanKind::kProducer});
}

TEST(FateStoreConfigTest, EveryKeyParsesAndRendersBackWithThePasswordRedacted) {
  absl::StatusOr<GatewayConfig> config = Load(R"yaml(
reparent:
  fate_store:
    type: redis
    redis:
      address: "[::1]:6380"
      username: gateway
      password: ${env:REDIS_TOKEN}
      key_prefix: "prod:"
      tls: {enabled: true, ca_file: /etc/ca.pem, server_name: cache.internal, cert_file: /c.pem, key_file: /k.pem}
    ttl: 1h
    timeout: 50ms
    connect_timeout: 2s
    max_wait: 3s
    publish_linger: 0s
    publish_kinds: [producer, client]
)yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const FateStoreConfig& f = config->fate_store;
  EXPECT_EQ(f.type, FateStoreType::kRedis);
  EXPECT_EQ(f.redis.address, "[::1]:6380");
  EXPECT_EQ(f.redis.username, "gateway");
  EXPECT_EQ(f.redis.password, "s3cret-token");
  EXPECT_EQ(f.redis.key_prefix, "prod:");
  EXPECT_TRUE(f.redis.tls.enabled);
  EXPECT_EQ(f.redis.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(f.redis.tls.server_name, "cache.internal");
  EXPECT_EQ(f.redis.tls.cert_file, "/c.pem");
  EXPECT_EQ(f.redis.tls.key_file, "/k.pem");
  EXPECT_EQ(f.ttl, absl::Hours(1));
  EXPECT_EQ(f.timeout, absl::Milliseconds(50));
  EXPECT_EQ(f.connect_timeout, absl::Seconds(2));
  EXPECT_EQ(f.max_wait, absl::Seconds(3));
  EXPECT_EQ(f.publish_linger, absl::ZeroDuration());
  EXPECT_EQ(f.publish_kinds, (std::vector<SpanKind>{SpanKind::kProducer, SpanKind::kClient}));

  const std::string rendered = RenderEffectiveConfig(*config);
  EXPECT_FALSE(absl::StrContains(rendered, "s3cret-token"));
  EXPECT_TRUE(absl::StrContains(rendered, "password: \"REDACTED\""));
  const std::vector<std::string> secrets = ConfigSecrets(*config);
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), "s3cret-token"), secrets.end());
  // The rendering loads back to the same configuration (but the password).
  absl::StatusOr<GatewayConfig> again = LoadConfig(rendered, MapEnv({}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(RenderEffectiveConfig(*again), rendered);
}

TEST(FateStoreConfigTest, ErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  for (const Case& c : {
           Case{"reparent: {fate_store: {type: memcached}}", "reparent.fate_store.type: must be none or redis"},
           Case{"reparent: {fate_store: {type: redis, redis: {address: localhost}}}",
                "reparent.fate_store.redis.address: must be host:port"},
           Case{"reparent: {fate_store: {type: redis, redis: {username: u}}}",
                "reparent.fate_store.redis.password: must be set"},
           Case{"reparent: {fate_store: {type: redis, max_wait: 10s}}",
                "reparent.fate_store.max_wait: must be below reparent.hold_window"},
           Case{"reparent: {fate_store: {type: redis, timeout: 0s}}", "reparent.fate_store.timeout: must be greater"},
           Case{"reparent: {fate_store: {type: redis, redis: {tls: {cert_file: /c.pem}}}}",
                "reparent.fate_store.redis.tls: cert_file and key_file"},
           Case{"reparent: {fate_store: {type: redis, publish_kinds: [bogus]}}",
                "reparent.fate_store.publish_kinds[0]"},
           Case{"reparent: {fate_store: {type: redis, redis: {tsl: {}}}}", "tsl"},
       }) {
    absl::StatusOr<GatewayConfig> config = Load(c.yaml);
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_TRUE(absl::StrContains(config.status().message(), c.error)) << config.status();
  }
}

}  // namespace
}  // namespace gateway
