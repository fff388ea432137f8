#include "pipeline/otlp/extra_attribute.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::trace::v1::Span;

// Field 9 of Span is `repeated KeyValue attributes`.
constexpr uint32_t kSpanAttributes = 9;

class ExtraAttributeTest : public ::testing::Test {
 protected:
  static std::vector<ExtraAttribute> Attributes() {
    return {{"s", std::string("text")}, {"empty", std::string()}, {"t", true}, {"f", false},
            {"i", int64_t{-5}},          {"zero", int64_t{0}},     {std::string(200, 'k'), std::string(300, 'v')}};
  }
};

TEST_F(ExtraAttributeTest, AppendedFieldsParseAsTheAttributesWithEveryOneofMemberSet) {
  std::string bytes;
  for (const ExtraAttribute& attribute : Attributes()) AppendKeyValueField(&bytes, kSpanAttributes, attribute);
  EXPECT_EQ(bytes.size(), AttributesSize(Attributes(), kSpanAttributes));
  Span span;
  ASSERT_TRUE(span.ParseFromString(bytes));
  ASSERT_EQ(span.attributes_size(), 7);
  EXPECT_EQ(span.attributes(0).key(), "s");
  EXPECT_EQ(span.attributes(0).value().string_value(), "text");
  EXPECT_TRUE(span.attributes(1).value().has_string_value());
  EXPECT_EQ(span.attributes(1).value().string_value(), "");
  EXPECT_TRUE(span.attributes(2).value().bool_value());
  EXPECT_TRUE(span.attributes(3).value().has_bool_value());
  EXPECT_FALSE(span.attributes(3).value().bool_value());
  EXPECT_EQ(span.attributes(4).value().int_value(), -5);
  EXPECT_TRUE(span.attributes(5).value().has_int_value());
  EXPECT_EQ(span.attributes(5).value().int_value(), 0);
  EXPECT_EQ(span.attributes(6).key(), std::string(200, 'k'));
  EXPECT_EQ(span.attributes(6).value().string_value(), std::string(300, 'v'));
}

TEST_F(ExtraAttributeTest, WrittenFieldsAreTheAppendedBytesInTheSizeAttributesSizeGives) {
  for (const ExtraAttribute& attribute : Attributes()) {
    std::string appended;
    AppendKeyValueField(&appended, kSpanAttributes, attribute);
    const size_t size = AttributesSize({attribute}, kSpanAttributes);
    std::string written(size + 1, '#');
    char* end = WriteKeyValueField(written.data(), kSpanAttributes, attribute);
    EXPECT_EQ(static_cast<size_t>(end - written.data()), size) << attribute.key;
    EXPECT_EQ(written.substr(0, size), appended) << attribute.key;
    EXPECT_EQ(written.back(), '#') << attribute.key;
  }
  EXPECT_EQ(AttributesSize({}, kSpanAttributes), 0u);
}

}  // namespace
}  // namespace gateway
