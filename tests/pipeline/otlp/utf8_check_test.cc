// Unit tests of the UTF-8 checks: the validator on the edge cases of RFC
// 3629 and against libprotobuf's own check, and which span, resource and
// scope fields the searches look into.
#include "pipeline/otlp/utf8_check.h"

#include <random>
#include <string>
#include <string_view>

#include "google/protobuf/stubs/common.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::common::v1::AnyValue;
using ::opentelemetry::proto::common::v1::KeyValue;
using ::opentelemetry::proto::trace::v1::ResourceSpans;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;

constexpr char kBad[] = "ok\xC3";  // truncated two-byte sequence

class Utf8CheckTest : public ::testing::Test {
 protected:
  static bool Libprotobuf(std::string_view s) {
    return ::google::protobuf::internal::IsStructurallyValidUTF8(s.data(), static_cast<int>(s.size()));
  }

  static const char* InSpan(const Span& span) { return FindInvalidUtf8InSpan(span.SerializeAsString()); }
};

TEST_F(Utf8CheckTest, AcceptsAsciiAndWellFormedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("GET /api/v1/orders"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9"));                 // U+00E9, two bytes
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC 12"));             // U+20AC, three bytes
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));            // U+1F600, four bytes
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));            // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));                // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));  // NUL is valid UTF-8
}

TEST_F(Utf8CheckTest, AsciiIsEveryByteBelow0x80AtEveryLengthAndPosition) {
  // Past 150 bytes: every path of the check (8-byte words, 16-byte blocks,
  // 64-byte steps and the overlapping tail of each).
  for (size_t size = 0; size <= 150; ++size) {
    std::string s(size, 'a');
    EXPECT_TRUE(IsAscii(s)) << size;
    for (size_t at = 0; at < size; ++at) {
      s[at] = '\x80';
      EXPECT_FALSE(IsAscii(s)) << size << " " << at;
      s[at] = '\x7f';
      EXPECT_TRUE(IsAscii(s)) << size << " " << at;
      s[at] = 'a';
    }
  }
}

TEST_F(Utf8CheckTest, RefusesOverlongSurrogatesOutOfRangeAndStrayBytes) {
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong, three bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // overlong, four bytes
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // U+D800, a lone surrogate
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\x80"));          // continuation without a lead
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));      // lead without its continuation
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));  // second byte not a continuation
}

TEST_F(Utf8CheckTest, RefusesSequencesTruncatedAtTheEnd) {
  EXPECT_FALSE(IsValidUtf8("abc\xC3"));
  EXPECT_FALSE(IsValidUtf8("abc\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("abc\xF0\x9F\x98"));
  EXPECT_FALSE(IsValidUtf8("\xF0"));
}

// The ASCII fast path reads 8 bytes at a time: a bad byte at every offset
// around the word boundaries is still found, and a good sequence straddling
// them still passes.
TEST_F(Utf8CheckTest, FindsABadByteAtEveryOffset) {
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t at = 0; at < length; ++at) {
      std::string s(length, 'a');
      s[at] = '\x80';
      EXPECT_FALSE(IsValidUtf8(s)) << length << " " << at;
      if (at + 4 <= length) {
        s.replace(at, 4, "\xF0\x9F\x98\x80");
        EXPECT_TRUE(IsValidUtf8(s)) << length << " " << at;
        s[at + 3] = 'a';
        EXPECT_FALSE(IsValidUtf8(s)) << length << " " << at;
      }
    }
  }
}

// Differential: the same answer as libprotobuf's check (what the target's
// decoder applies to proto3 strings) on random strings of interesting bytes.
TEST_F(Utf8CheckTest, AgreesWithLibprotobufOnRandomStrings) {
  constexpr unsigned char kBytes[] = {'a',  0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                                      0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  std::mt19937 rng(18);
  int valid = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s(rng() % 12, 'a');
    for (char& c : s) c = static_cast<char>(kBytes[rng() % sizeof(kBytes)]);
    const bool ours = IsValidUtf8(s);
    ASSERT_EQ(ours, Libprotobuf(s)) << ::testing::PrintToString(s);
    valid += ours ? 1 : 0;
  }
  EXPECT_GT(valid, 1000);  // both sides of the answer were exercised
}

TEST_F(Utf8CheckTest, ASpanWithOnlyValidStringsHasNoFinding) {
  Span span;
  span.set_name("GET /caf\xC3\xA9");
  span.set_trace_state("k=v");
  KeyValue* kv = span.add_attributes();
  kv->set_key("payload");
  kv->mutable_value()->set_bytes_value("\xFF\xFE");  // bytes, not a string
  span.add_events()->set_name("\xE2\x82\xAC");
  span.mutable_status()->set_message("fine");
  EXPECT_EQ(InSpan(span), nullptr);
}

TEST_F(Utf8CheckTest, EachStringFieldOfASpanIsSearched) {
  const auto expect = [](const Span& span, const char* field) {
    const char* found = InSpan(span);
    ASSERT_NE(found, nullptr) << field;
    EXPECT_STREQ(found, field);
  };
  Span span;
  span.set_name(kBad);
  expect(span, "name");

  span.Clear();
  span.set_trace_state(kBad);
  expect(span, "trace_state");

  span.Clear();
  span.add_attributes()->set_key(kBad);
  expect(span, "attributes");

  span.Clear();
  span.add_attributes()->mutable_value()->set_string_value(kBad);
  expect(span, "attributes");

  span.Clear();
  AnyValue* array = span.add_attributes()->mutable_value();
  array->mutable_array_value()->add_values()->set_int_value(1);
  array->mutable_array_value()->add_values()->set_string_value(kBad);
  expect(span, "attributes");

  span.Clear();
  KeyValue* nested = span.add_attributes()->mutable_value()->mutable_kvlist_value()->add_values();
  nested->mutable_value()->mutable_kvlist_value()->add_values()->set_key(kBad);
  expect(span, "attributes");

  span.Clear();
  span.add_events()->set_name(kBad);
  expect(span, "events.name");

  span.Clear();
  span.add_events()->add_attributes()->mutable_value()->set_string_value(kBad);
  expect(span, "events.attributes");

  span.Clear();
  span.add_links()->set_trace_state(kBad);
  expect(span, "links.trace_state");

  span.Clear();
  span.add_links()->add_attributes()->set_key(kBad);
  expect(span, "links.attributes");

  span.Clear();
  span.mutable_status()->set_message(kBad);
  expect(span, "status.message");
}

TEST_F(Utf8CheckTest, ResourceAndScopeFramesAreSearched) {
  ResourceSpans resource;
  resource.mutable_resource()->add_attributes()->mutable_value()->set_string_value("checkout");
  resource.set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  EXPECT_EQ(FindInvalidUtf8InResourceFrame(resource.SerializeAsString()), nullptr);
  resource.mutable_resource()->add_attributes()->set_key(kBad);
  EXPECT_STREQ(FindInvalidUtf8InResourceFrame(resource.SerializeAsString()), "resource.attributes");
  resource.clear_resource();
  resource.set_schema_url(kBad);
  EXPECT_STREQ(FindInvalidUtf8InResourceFrame(resource.SerializeAsString()), "resource_spans.schema_url");

  ScopeSpans scope;
  scope.mutable_scope()->set_name("io.opentelemetry.http");
  EXPECT_EQ(FindInvalidUtf8InScopeFrame(scope.SerializeAsString()), nullptr);
  scope.mutable_scope()->set_version(kBad);
  EXPECT_STREQ(FindInvalidUtf8InScopeFrame(scope.SerializeAsString()), "scope.version");
  scope.mutable_scope()->clear_version();
  scope.mutable_scope()->add_attributes()->mutable_value()->set_string_value(kBad);
  EXPECT_STREQ(FindInvalidUtf8InScopeFrame(scope.SerializeAsString()), "scope.attributes");
}

// Bytes that are not protobuf are the validator's to refuse: no finding.
TEST_F(Utf8CheckTest, MalformedBytesGiveNoFinding) {
  EXPECT_EQ(FindInvalidUtf8InSpan("\x2A\x7F\xC3"), nullptr);  // name, length past the end
  EXPECT_EQ(FindInvalidUtf8InSpan("\xFF\xFF\xFF\xFF\xFF\xFF"), nullptr);
}

}  // namespace
}  // namespace gateway
