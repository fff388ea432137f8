#include "gateway/config/config_values.h"

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(ConfigValuesTest, DurationsNeedAUnitAndAreFiniteAndNonNegative) {
  absl::Duration d;
  ASSERT_TRUE(ParseConfigDuration("1h30m", "k", &d).ok());
  EXPECT_EQ(d, absl::Minutes(90));
  for (const char* bad : {"10", "-1s", "inf", "soon", ""}) {
    absl::Status s = ParseConfigDuration(bad, "batch.timeout", &d);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.message().substr(0, 14), "batch.timeout:") << bad;
  }
}

TEST(ConfigValuesTest, SpanKindsRoundTripThroughTheirNames) {
  for (SpanKind kind : {SpanKind::kInternal, SpanKind::kServer, SpanKind::kClient, SpanKind::kProducer,
                        SpanKind::kConsumer}) {
    SpanKind parsed = SpanKind::kUnspecified;
    ASSERT_TRUE(ParseSpanKind(SpanKindName(kind), "k", &parsed).ok()) << SpanKindName(kind);
    EXPECT_EQ(parsed, kind);
  }
  SpanKind parsed = SpanKind::kUnspecified;
  ASSERT_TRUE(ParseSpanKind("SPAN_KIND_CONSUMER", "k", &parsed).ok());
  EXPECT_EQ(parsed, SpanKind::kConsumer);
  EXPECT_FALSE(ParseSpanKind("unspecified", "k", &parsed).ok());
}

TEST(ConfigValuesTest, ExporterTypesAndLogLevelsTakeTheirNames) {
  for (ExporterType type :
       {ExporterType::kAuto, ExporterType::kDynatrace, ExporterType::kOtlpHttp, ExporterType::kDebug}) {
    ExporterType parsed = ExporterType::kAuto;
    ASSERT_TRUE(ParseExporterType(ExporterTypeName(type), "k", &parsed).ok());
    EXPECT_EQ(parsed, type);
  }
  ExporterType type = ExporterType::kAuto;
  EXPECT_EQ(ParseExporterType("Dynatrace", "--exporter", &type).message(),
            "--exporter: must be dynatrace, otlphttp, debug or auto, got \"Dynatrace\"");
  LogLevel level = LogLevel::kInfo;
  ASSERT_TRUE(ParseLogLevelValue("warn", "log.level", &level).ok());
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevelValue("verbose", "log.level", &level).ok());
}

}  // namespace
}  // namespace gateway
