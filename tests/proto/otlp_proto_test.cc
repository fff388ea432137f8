#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include "gtest/gtest.h"

namespace {

using ::opentelemetry::proto::trace::v1::Span;

TEST(OtlpProtoTest, SpanFlagsIsFieldSixteenFixed32) {
  const auto* field = Span::descriptor()->FindFieldByName("flags");
  ASSERT_NE(field, nullptr);
  EXPECT_EQ(field->number(), 16);
  EXPECT_EQ(field->type(), google::protobuf::FieldDescriptor::TYPE_FIXED32);
}

}  // namespace
