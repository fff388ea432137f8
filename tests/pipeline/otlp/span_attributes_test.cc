// Unit tests of the on-demand attribute readers of span_attributes.h, on
// spans and links built with libprotobuf and scanned.
#include "pipeline/otlp/span_attributes.h"

#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/trace_scanner.h"
#include "tests/pipeline/otlp/trace_test_requests.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::trace::v1::Span;
using testing::MakeSpan;
using testing::Request;

ScannedTraceRequest ScanOne(const Span& s) {
  absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(Request({s}).SerializeAsString());
  EXPECT_TRUE(scanned.ok());
  return *std::move(scanned);
}

void AddLinkAttribute(Span::Link* link, const std::string& key, const std::string& value) {
  auto* kv = link->add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

TEST(SpanAttributesTest, FindsTheFirstStringAttributeOfASpan) {
  Span s = MakeSpan(1, 2, 0);
  auto* id = s.add_attributes();
  id->set_key("messaging.message.id");
  id->mutable_value()->set_string_value("m-1");
  auto* again = s.add_attributes();
  again->set_key("messaging.message.id");
  again->mutable_value()->set_string_value("m-2");
  auto* number = s.add_attributes();
  number->set_key("n");
  number->mutable_value()->set_int_value(3);
  s.set_start_time_unix_nano(77);
  ScannedTraceRequest scanned = ScanOne(s);
  std::string_view value;
  ASSERT_TRUE(SpanStringAttribute(scanned.spans[0], "messaging.message.id", &value));
  EXPECT_EQ(value, "m-1");
  EXPECT_FALSE(SpanStringAttribute(scanned.spans[0], "n", &value));  // not a string
  EXPECT_FALSE(SpanStringAttribute(scanned.spans[0], "absent", &value));
  EXPECT_EQ(SpanStartTime(scanned.spans[0]), 77u);
}

TEST(SpanAttributesTest, FindsSeveralLinkAttributesInOneWalk) {
  Span s = MakeSpan(1, 2, 0);
  auto* link = s.add_links();
  link->set_trace_id(testing::Id(16, 7));
  link->set_span_id(testing::Id(8, 8));
  link->set_flags(0x301);
  AddLinkAttribute(link, "messaging.message.id", "m-1");
  AddLinkAttribute(link, "source", "x-ray-env");
  auto* marked = link->add_attributes();
  marked->set_key("gateway.reparent.original_parent");
  marked->mutable_value()->set_bool_value(true);
  link->set_dropped_attributes_count(2);
  ScannedTraceRequest scanned = ScanOne(s);
  const LinkRef& ref = scanned.spans[0].links[0];
  const std::vector<std::string_view> keys = {"gateway.reparent.original_parent", "source", "absent"};
  std::string_view values[3];
  EXPECT_EQ(FindLinkAttributes(ref, keys, values), 3u);
  EXPECT_EQ(values[0], "");  // a bool
  EXPECT_EQ(values[1], "x-ray-env");
  EXPECT_TRUE(LinkHasAttribute(ref, "messaging.message.id"));
  std::string_view id;
  ASSERT_TRUE(LinkStringAttribute(ref, "messaging.message.id", &id));
  EXPECT_EQ(id, "m-1");
}

TEST(SpanAttributesTest, ALinkInAnUncommonEncodingIsReadByTheGeneralReader) {
  // Fields written in an order and encoding the fast walk does not take:
  // an unknown field, then the attribute with a two-byte length prefix.
  Span::Link link;
  link.set_trace_id(testing::Id(16, 7));
  link.set_span_id(testing::Id(8, 8));
  AddLinkAttribute(&link, "source", std::string(200, 'x'));
  std::string bytes = link.SerializeAsString();
  bytes = std::string("\x78\x01", 2) + bytes;  // field 15, varint 1
  LinkRef ref;
  ref.message = bytes;
  const std::vector<std::string_view> keys = {"source"};
  std::string_view values[1];
  EXPECT_EQ(FindLinkAttributes(ref, keys, values), 1u);
  EXPECT_EQ(values[0].size(), 200u);
}

}  // namespace
}  // namespace gateway
