// The request validator's fast path for spans and their scopes
// (otlp_validate_fast_path.h)
// against its schema-table check (otlp_wire_internal::ValidateWithoutFastPath):
// the same verdict, message and UTF-8 note on realistic spans, on spans with
// bytes mutated and on spans built from random fields. And the fast path
// takes the spans SDKs send, so that the agreement is not reached by always
// declining.
#include "pipeline/otlp/otlp_validate_fast_path.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/otlp_wire.h"
#include "pipeline/otlp/wire_format.h"
#include "tests/pipeline/otlp/random_trace_request.h"

namespace gateway {
namespace {

using otlp_validate_internal::IsPlainScopeSpans;
using otlp_validate_internal::IsPlainSpan;

// Wraps span fields in ExportTraceServiceRequest > ResourceSpans > ScopeSpans > Span.
std::string RequestWithSpan(const std::string& span_fields) {
  std::string scope;
  AppendLengthDelimited(&scope, 2, span_fields);
  std::string resource;
  AppendLengthDelimited(&resource, 2, scope);
  std::string request;
  AppendLengthDelimited(&request, 1, resource);
  return request;
}

bool PlainSpan(const std::string& span, bool check_utf8) {
  const auto* p = reinterpret_cast<const uint8_t*>(span.data());
  return IsPlainSpan(p, p + span.size(), check_utf8);
}

class ValidateFastPathTest : public testing::RandomTraceRequestTest {
 protected:
  // Both checks agree on `body`, with and without notes. Returns the
  // verdict; the loops stop at the first disagreement (HasFailure).
  static bool Agree(const std::string& body, int round) {
    const absl::Status fast = ValidateExportRequest(Signal::kTraces, body);
    EXPECT_EQ(fast, otlp_wire_internal::ValidateWithoutFastPath(Signal::kTraces, body)) << round;
    ValidationNotes fast_notes;
    ValidationNotes slow_notes;
    EXPECT_EQ(ValidateExportRequest(Signal::kTraces, body, &fast_notes), fast) << round;
    EXPECT_EQ(otlp_wire_internal::ValidateWithoutFastPath(Signal::kTraces, body, &slow_notes), fast) << round;
    if (fast.ok()) {
      EXPECT_EQ(fast_notes.invalid_utf8, slow_notes.invalid_utf8) << round;
    }
    return fast.ok();
  }

  // A string of mostly ASCII, now and then a valid multi-byte sequence or a
  // byte that breaks UTF-8.
  std::string RandomString() {
    std::string s = RandomText();
    switch (rng_() % 8) {
      case 0:
        s += "caf\xC3\xA9";
        break;
      case 1:
        s.insert(s.size() / 2, "\xF0\x9F\x98\x80");
        break;
      case 2:
        s.push_back(static_cast<char>(0x80 | rng_()));
        break;
      case 3:
        s = std::string(16 + rng_() % 40, 'a') + s;  // long enough for the word-wise checks
        if (OneIn(2)) s[rng_() % s.size()] = static_cast<char>(0x80 | rng_());
        break;
      default:
        break;
    }
    return s;
  }

  // One field of a message whose fast path knows `tags`: mostly one of
  // them, now and then any byte; a value that is now and then too short,
  // too long, or a varint that does not end.
  std::string RandomField(const std::vector<uint8_t>& tags,
                          const std::vector<std::pair<uint8_t, std::string (ValidateFastPathTest::*)()>>& nested) {
    std::string field;
    const uint8_t tag = OneIn(10) ? static_cast<uint8_t>(rng_()) : tags[rng_() % tags.size()];
    field.push_back(static_cast<char>(tag));
    if (tag == 0x85) field.push_back(OneIn(8) ? '\x02' : '\x01');  // Span.flags' two-byte tag
    switch (tag & 7) {
      case 2: {
        std::string value = RandomString();
        for (const auto& [nested_tag, make] : nested) {
          if (tag == nested_tag) value = (this->*make)();
        }
        int64_t length = static_cast<int64_t>(value.size());
        if (OneIn(12)) length += static_cast<int64_t>(rng_() % 5) - 2;
        if (length < 0) length = 0;
        if (OneIn(10)) {
          AppendVarint(&field, static_cast<uint64_t>(length) + 300);  // a two-byte length, past the end
        } else if (OneIn(10)) {
          field.push_back(static_cast<char>(0x80 | length));  // a non-minimal two-byte length
          field.push_back('\0');
        } else {
          AppendVarint(&field, static_cast<uint64_t>(length));
        }
        field += value;
        break;
      }
      case 0: {
        const int bytes = 1 + static_cast<int>(rng_() % 12);  // 11 and 12 are too long
        for (int i = 0; i + 1 < bytes; ++i) field.push_back(static_cast<char>(0x80 | rng_()));
        if (!OneIn(10)) field.push_back(static_cast<char>(rng_() % 0x80));
        break;
      }
      case 1:
        field += std::string(OneIn(10) ? rng_() % 8 : 8, 'd');
        break;
      case 5:
        field += std::string(OneIn(10) ? rng_() % 4 : 4, 'f');
        break;
      default:
        break;
    }
    return field;
  }

  std::string Fields(int max, const std::vector<uint8_t>& tags,
                     const std::vector<std::pair<uint8_t, std::string (ValidateFastPathTest::*)()>>& nested = {}) {
    std::string out;
    for (int n = static_cast<int>(rng_() % (max + 1)); n > 0; --n) out += RandomField(tags, nested);
    return out;
  }

  std::string AnyValue() { return Fields(2, {0x0a, 0x10, 0x18, 0x21, 0x3a, 0x2a, 0x32, 0x40}); }
  std::string KeyValue() { return Fields(3, {0x0a, 0x12}, {{0x12, &ValidateFastPathTest::AnyValue}}); }
  std::string Event() { return Fields(4, {0x09, 0x12, 0x1a, 0x20}, {{0x1a, &ValidateFastPathTest::KeyValue}}); }
  std::string Link() {
    return Fields(5, {0x0a, 0x12, 0x1a, 0x22, 0x28, 0x35}, {{0x22, &ValidateFastPathTest::KeyValue}});
  }
  std::string Status() { return Fields(2, {0x12, 0x18}); }
  std::string Scope() { return Fields(4, {0x0a, 0x12, 0x1a, 0x20}, {{0x1a, &ValidateFastPathTest::KeyValue}}); }
  std::string ScopeSpans() {
    return Fields(4, {0x0a, 0x12, 0x12, 0x1a},
                  {{0x0a, &ValidateFastPathTest::Scope}, {0x12, &ValidateFastPathTest::SpanFields}});
  }
  std::string SpanFields() {
    return Fields(10, {0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x30, 0x39, 0x41, 0x4a, 0x50, 0x5a, 0x60, 0x6a, 0x70, 0x7a, 0x85},
                  {{0x4a, &ValidateFastPathTest::KeyValue},
                   {0x5a, &ValidateFastPathTest::Event},
                   {0x6a, &ValidateFastPathTest::Link},
                   {0x7a, &ValidateFastPathTest::Status}});
  }
};

TEST_F(ValidateFastPathTest, TakesTheSpansSdksSend) {
  Span span;
  span.set_trace_id(std::string(16, '\x01'));
  span.set_span_id(std::string(8, '\x02'));
  span.set_parent_span_id(std::string(8, '\x03'));
  span.set_trace_state("k=v");
  span.set_name("GET /api/v1/orders/{id}");
  span.set_kind(Span::SPAN_KIND_SERVER);
  span.set_start_time_unix_nano(1'700'000'000'000'000'000);
  span.set_end_time_unix_nano(1'700'000'000'000'500'000);
  auto* method = span.add_attributes();
  method->set_key("http.request.method");
  method->mutable_value()->set_string_value("GET");
  auto* code = span.add_attributes();
  code->set_key("http.response.status_code");
  code->mutable_value()->set_int_value(200);
  auto* ratio = span.add_attributes();
  ratio->set_key("ratio");
  ratio->mutable_value()->set_double_value(0.5);
  auto* sampled = span.add_attributes();
  sampled->set_key("sampled");
  sampled->mutable_value()->set_bool_value(true);
  auto* blob = span.add_attributes();
  blob->set_key("blob");
  blob->mutable_value()->set_bytes_value(std::string("\xff\x00", 2));
  span.set_dropped_attributes_count(1);
  auto* event = span.add_events();
  event->set_time_unix_nano(1);
  event->set_name("exception");
  *event->add_attributes() = *method;
  event->set_dropped_attributes_count(1);
  auto* link = span.add_links();
  link->set_trace_id(std::string(16, '\x04'));
  link->set_span_id(std::string(8, '\x05'));
  link->set_trace_state("l=1");
  *link->add_attributes() = *code;
  link->set_dropped_attributes_count(2);
  link->set_flags(0x301);
  span.set_dropped_events_count(3);
  span.set_dropped_links_count(4);
  span.mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  span.mutable_status()->set_message("boom \xE2\x82\xAC");  // valid UTF-8, not ASCII
  span.set_flags(0x301);
  EXPECT_TRUE(PlainSpan(span.SerializeAsString(), /*check_utf8=*/true));
  EXPECT_TRUE(Agree(RequestWithSpan(span.SerializeAsString()), 0));

  // And the scope around it.
  opentelemetry::proto::trace::v1::ScopeSpans scope_spans;
  scope_spans.mutable_scope()->set_name("io.opentelemetry.lib");
  scope_spans.mutable_scope()->set_version("1.0.0");
  *scope_spans.mutable_scope()->add_attributes() = *method;
  scope_spans.mutable_scope()->set_dropped_attributes_count(1);
  scope_spans.set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  *scope_spans.add_spans() = span;
  *scope_spans.add_spans() = span;
  const std::string scope_bytes = scope_spans.SerializeAsString();
  const auto* scope_begin = reinterpret_cast<const uint8_t*>(scope_bytes.data());
  EXPECT_TRUE(IsPlainScopeSpans(scope_begin, scope_begin + scope_bytes.size(), /*check_utf8=*/true));

  // An invalid string is left to the general check (which notes it)
  // unless UTF-8 is not asked for.
  span.set_name("bad \xC3");
  EXPECT_FALSE(PlainSpan(span.SerializeAsString(), /*check_utf8=*/true));
  EXPECT_TRUE(PlainSpan(span.SerializeAsString(), /*check_utf8=*/false));
  EXPECT_TRUE(Agree(RequestWithSpan(span.SerializeAsString()), 1));

  // So are nested attribute values.
  span.set_name("ok");
  span.add_attributes()->mutable_value()->mutable_array_value()->add_values()->set_int_value(1);
  EXPECT_FALSE(PlainSpan(span.SerializeAsString(), /*check_utf8=*/true));
  EXPECT_TRUE(Agree(RequestWithSpan(span.SerializeAsString()), 2));
}

TEST_F(ValidateFastPathTest, AgreesWithTheSchemaOnRandomRequests) {
  int plain = 0;
  int spans = 0;
  for (int round = 0; round < 3000; ++round) {
    const ExportTraceServiceRequest request = RandomRequest();
    Agree(request.SerializeAsString(), round);  // now and then a group: invalid
    ASSERT_FALSE(HasFailure());
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const Span& span : ss.spans()) {
          ++spans;
          plain += PlainSpan(span.SerializeAsString(), true) ? 1 : 0;
        }
      }
    }
  }
  // The generator adds nested values and unknown fields to many spans; the
  // rest take the fast path.
  EXPECT_GT(plain, spans / 5) << plain << " of " << spans;
}

TEST_F(ValidateFastPathTest, AgreesWithTheSchemaOnMutatedSpans) {
  int valid = 0;
  constexpr int kRounds = 20000;
  for (int round = 0; round < kRounds; ++round) {
    std::string span = RandomSpan().SerializeAsString();
    for (int m = 1 + static_cast<int>(rng_() % 3); m > 0 && !span.empty(); --m) {
      const size_t at = rng_() % span.size();
      switch (rng_() % 4) {
        case 0:
          span[at] = static_cast<char>(rng_());
          break;
        case 1:
          span[at] = static_cast<char>(span[at] ^ (1 << (rng_() % 8)));
          break;
        case 2:
          span.erase(at, 1);
          break;
        default:
          span.insert(at, 1, static_cast<char>(rng_()));
          break;
      }
    }
    valid += Agree(RequestWithSpan(span), round) ? 1 : 0;
    ASSERT_FALSE(HasFailure());
  }
  EXPECT_GT(valid, kRounds / 20);
  EXPECT_LT(valid, kRounds * 19 / 20);
}

TEST_F(ValidateFastPathTest, AgreesWithTheSchemaOnRandomFields) {
  int valid = 0;
  constexpr int kRounds = 30000;
  for (int round = 0; round < kRounds; ++round) {
    std::string resource;
    for (int s = 1 + static_cast<int>(rng_() % 2); s > 0; --s) AppendLengthDelimited(&resource, 2, ScopeSpans());
    std::string request;
    AppendLengthDelimited(&request, 1, resource);
    valid += Agree(request, round) ? 1 : 0;
    ASSERT_FALSE(HasFailure());
  }
  EXPECT_GT(valid, kRounds / 20);
  EXPECT_LT(valid, kRounds * 19 / 20);
}

}  // namespace
}  // namespace gateway
