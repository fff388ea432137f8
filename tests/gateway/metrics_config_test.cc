#include "gateway/config/metrics_config.h"

#include <string>

#include "gateway/config/config.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(MetricsConfigTest, AutoMeansOnForDynatraceAndOffOtherwise) {
  const MetricsConfig c;
  const MetricsOptions dt = ResolveMetricsOptions(c, true);
  EXPECT_TRUE(dt.cumulative_to_delta);
  EXPECT_TRUE(dt.drop_summaries);
  EXPECT_EQ(dt.max_dimensions, 50);
  const MetricsOptions other = ResolveMetricsOptions(c, false);
  EXPECT_FALSE(other.cumulative_to_delta);
  EXPECT_FALSE(other.drop_summaries);
  EXPECT_EQ(other.max_dimensions, 0);
  EXPECT_FALSE(other.Active());
}

TEST(MetricsConfigTest, ExplicitValuesWinOverAuto) {
  MetricsConfig c;
  c.cumulative_to_delta = AutoBool::kTrue;
  c.drop_summaries = AutoBool::kFalse;
  c.max_dimensions = 0;
  const MetricsOptions other = ResolveMetricsOptions(c, false);
  EXPECT_TRUE(other.cumulative_to_delta);
  const MetricsOptions dt = ResolveMetricsOptions(c, true);
  EXPECT_FALSE(dt.drop_summaries);
  EXPECT_EQ(dt.max_dimensions, 0);
}

TEST(MetricsConfigTest, ProcessMemoryBoundCapsTheSeriesTable) {
  const MetricsConfig c;  // 64 MiB
  EXPECT_EQ(ResolveMetricsOptions(c, true, int64_t{512} << 20).series.max_bytes, int64_t{32} << 20);
  EXPECT_EQ(ResolveMetricsOptions(c, true, int64_t{4} << 30).series.max_bytes, int64_t{64} << 20);
}

TEST(MetricsConfigTest, YamlKeysParseAndRenderBack) {
  absl::StatusOr<GatewayConfig> config = LoadConfig(R"(
metrics:
  cumulative_to_delta: false
  initial_value: drop
  max_series: 1000
  max_series_mib: 8
  series_ttl: 10m
  drop_summaries: true
  max_dimensions: 20
)",
                                                    MapEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.cumulative_to_delta, AutoBool::kFalse);
  EXPECT_EQ(config->metrics.initial_value, metrics::InitialValue::kDrop);
  EXPECT_EQ(config->metrics.max_series, 1000);
  EXPECT_EQ(config->metrics.max_series_mib, 8);
  EXPECT_EQ(config->metrics.series_ttl, absl::Minutes(10));
  EXPECT_EQ(config->metrics.drop_summaries, AutoBool::kTrue);
  EXPECT_EQ(config->metrics.max_dimensions, 20);
  absl::StatusOr<GatewayConfig> again = LoadConfig(RenderEffectiveConfig(*config), MapEnv({}));
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << RenderEffectiveConfig(*config);
  EXPECT_EQ(again->metrics.max_dimensions, 20);
  EXPECT_EQ(again->metrics.initial_value, metrics::InitialValue::kDrop);
}

TEST(MetricsConfigTest, DefaultsAreAuto) {
  absl::StatusOr<GatewayConfig> config = LoadDefaultConfig(MapEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.cumulative_to_delta, AutoBool::kAuto);
  EXPECT_EQ(config->metrics.max_dimensions, -1);
  EXPECT_EQ(config->metrics.series_ttl, absl::Hours(1));
}

TEST(MetricsConfigTest, BadValuesNameTheKey) {
  for (const char* yaml : {"metrics: {cumulative_to_delta: yes}", "metrics: {initial_value: first}",
                           "metrics: {max_dimensions: -3}", "metrics: {max_series: 0}", "metrics: {series_ttl: 5}",
                           "metrics: {max_serie: 5}"}) {
    absl::StatusOr<GatewayConfig> config = LoadConfig(yaml, MapEnv({}));
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(std::string(config.status().message()).find("metrics."), std::string::npos) << config.status();
  }
  absl::StatusOr<GatewayConfig> zero_ttl = LoadConfig("metrics: {series_ttl: 0s}", MapEnv({}));
  ASSERT_TRUE(zero_ttl.ok());
  EXPECT_FALSE(ValidateConfig(*zero_ttl).ok());
}

}  // namespace
}  // namespace gateway
