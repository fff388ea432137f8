// Differential test of OtlpJsonToProto: random requests built with
// libprotobuf, rendered to OTLP/JSON through libprotobuf's own JSON printer
// (ids rewritten from base64 to hex, unknown keys added), converted, and
// parsed back by libprotobuf: the same message must come out. The unit
// tests are in otlp_json_test.cc.
#include <cctype>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/otlp_json.h"

namespace gateway {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using ::opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

class RandomRequests {
 public:
  explicit RandomRequests(uint32_t seed) : rng_(seed) {}

  void Fill(Message* message, int depth) {
    const auto* descriptor = message->GetDescriptor();
    const Reflection* reflection = message->GetReflection();
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      if (field->type() == FieldDescriptor::TYPE_MESSAGE && depth >= kMaxDepth) continue;
      if (!Chance(field->type() == FieldDescriptor::TYPE_MESSAGE ? 0.6 : 0.5)) continue;
      if (field->is_repeated()) {
        const int count = static_cast<int>(Uniform(0, depth < 3 ? 3 : 2));
        for (int n = 0; n < count; ++n) AddValue(message, reflection, field, depth);
      } else {
        SetValue(message, reflection, field, depth);
      }
    }
  }

  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  uint64_t Uniform(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }

 private:
  static constexpr int kMaxDepth = 9;

  int64_t Int64() {
    static constexpr int64_t kEdges[] = {0, 1, -1, std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max(), 1700000000123456789};
    if (Chance(0.5)) return kEdges[Uniform(0, std::size(kEdges) - 1)];
    return static_cast<int64_t>(rng_());
  }
  uint64_t Uint64() { return Chance(0.3) ? std::numeric_limits<uint64_t>::max() : rng_() >> Uniform(0, 63); }
  double Double() {
    static constexpr double kEdges[] = {0.0, -0.0, 1.5, -2.25e300, 1e-300, 0.1,
                                        std::numeric_limits<double>::infinity(),
                                        -std::numeric_limits<double>::infinity(),
                                        std::numeric_limits<double>::denorm_min(),
                                        std::numeric_limits<double>::max()};
    if (Chance(0.4)) return kEdges[Uniform(0, std::size(kEdges) - 1)];
    // Arbitrary finite bit patterns.
    for (int attempt = 0; attempt < 8; ++attempt) {
      const uint64_t bits = rng_();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      if (std::isfinite(d)) return d;
    }
    return 3.25;
  }
  std::string Utf8String() {
    static constexpr std::string_view kPieces[] = {
        "a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xe4\xb8\xad", "\xef\xbf\xbd", "\xed\x9f\xbf", "<", ">", "&", "'", "\u2028"};
    std::string s;
    const uint64_t n = Uniform(0, 12);
    for (uint64_t i = 0; i < n; ++i) s.append(kPieces[Uniform(0, std::size(kPieces) - 1)]);
    return s;
  }
  std::string RandomBytes(size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return s;
  }
  std::string Bytes(const FieldDescriptor* field) {
    const std::string& name = field->name();
    if (name == "trace_id") return RandomBytes(16);
    if (name == "span_id" || name == "parent_span_id") return RandomBytes(8);
    return RandomBytes(Uniform(0, 20));
  }
  int Enum(const FieldDescriptor* field) {
    const auto* type = field->enum_type();
    if (Chance(0.1)) return static_cast<int>(Uniform(100, 200));  // unknown to this schema
    return type->value(static_cast<int>(Uniform(0, type->value_count() - 1)))->number();
  }

  void SetValue(Message* m, const Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(m, f, static_cast<int32_t>(Int64()));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(m, f, Int64());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(m, f, static_cast<uint32_t>(Uint64()));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(m, f, Uint64());
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(m, f, Double());
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(m, f, static_cast<float>(Uniform(0, 1000)) / 8);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(m, f, Chance(0.5));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnumValue(m, f, Enum(f));
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(m, f, f->type() == FieldDescriptor::TYPE_BYTES ? Bytes(f) : Utf8String());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        Fill(r->MutableMessage(m, f), depth + 1);
        break;
    }
  }

  void AddValue(Message* m, const Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r->AddInt32(m, f, static_cast<int32_t>(Int64()));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->AddInt64(m, f, Int64());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->AddUInt32(m, f, static_cast<uint32_t>(Uint64()));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->AddUInt64(m, f, Uint64());
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->AddDouble(m, f, Double());
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->AddFloat(m, f, static_cast<float>(Uniform(0, 1000)) / 8);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->AddBool(m, f, Chance(0.5));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->AddEnumValue(m, f, Enum(f));
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->AddString(m, f, f->type() == FieldDescriptor::TYPE_BYTES ? Bytes(f) : Utf8String());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        Fill(r->AddMessage(m, f), depth + 1);
        break;
    }
  }

  std::mt19937_64 rng_;
};

bool IsIdKey(std::string_view key) {
  return key == "traceId" || key == "trace_id" || key == "spanId" || key == "span_id" || key == "parentSpanId" ||
         key == "parent_span_id";
}

// The end (one past the closing quote) of the JSON string starting at `begin`.
size_t StringEnd(const std::string& json, size_t begin) {
  size_t i = begin + 1;
  while (i < json.size() && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
  return i + 1;
}

// Rewrites libprotobuf's proto3 JSON into OTLP/JSON: ids from base64 to hex
// (either case), plus unknown keys the converter must ignore. Works on the
// text so that no JSON library's number handling stands between libprotobuf
// and the converter.
std::string ToOtlpJson(const std::string& proto3_json, RandomRequests& random) {
  std::string out;
  size_t i = 0;
  while (i < proto3_json.size()) {
    const char c = proto3_json[i];
    if (c == '{') {
      out.push_back(c);
      ++i;
      if (random.Chance(0.05)) {
        out.append(R"("zUnknownKey":{"a":[1,"b",{"c":null},1.5e3,"x"],"traceId":7})");
        if (i < proto3_json.size() && proto3_json[i] != '}') out.push_back(',');
      }
      continue;
    }
    if (c != '"') {
      out.push_back(c);
      ++i;
      continue;
    }
    const size_t end = StringEnd(proto3_json, i);
    const std::string_view token(proto3_json.data() + i + 1, end - i - 2);
    out.append(proto3_json, i, end - i);
    i = end;
    const bool id_member = IsIdKey(token) && proto3_json.compare(i, 2, ":\"") == 0;
    if (!id_member) continue;
    const size_t value_end = StringEnd(proto3_json, i + 1);
    const std::string base64 = proto3_json.substr(i + 2, value_end - i - 3);
    std::string raw;
    EXPECT_TRUE(absl::Base64Unescape(base64, &raw)) << base64;
    std::string hex = absl::BytesToHexString(raw);
    if (random.Chance(0.3)) {
      for (char& h : hex) h = static_cast<char>(std::toupper(static_cast<unsigned char>(h)));
    }
    absl::StrAppend(&out, ":\"", hex, "\"");
    i = value_end;
  }
  return out;
}

template <typename Request>
void CheckRoundTrip(Signal signal, RandomRequests& random, int case_number) {
  Request original;
  random.Fill(&original, 0);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = random.Chance(0.3);
  options.always_print_enums_as_ints = random.Chance(0.5);
  std::string proto3_json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(original, &proto3_json, options).ok());
  const std::string otlp_json = ToOtlpJson(proto3_json, random);

  absl::StatusOr<std::string> wire = OtlpJsonToProto(signal, otlp_json);
  ASSERT_TRUE(wire.ok()) << "case " << case_number << ": " << wire.status() << "\n" << otlp_json;
  Request decoded;
  ASSERT_TRUE(decoded.ParseFromString(*wire)) << "case " << case_number;
  std::string differences;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(original, decoded))
      << "case " << case_number << ": " << differences << "\n" << otlp_json;
}

TEST(OtlpJsonDifferentialTest, LibprotobufRenderedRequestsRoundTrip) {
  RandomRequests random(20240229);
  constexpr int kCases = 500;
  for (int i = 0; i < kCases && !::testing::Test::HasFailure(); ++i) {
    switch (i % 3) {
      case 0:
        CheckRoundTrip<ExportTraceServiceRequest>(Signal::kTraces, random, i);
        break;
      case 1:
        CheckRoundTrip<ExportMetricsServiceRequest>(Signal::kMetrics, random, i);
        break;
      case 2:
        CheckRoundTrip<ExportLogsServiceRequest>(Signal::kLogs, random, i);
        break;
    }
  }
}

}  // namespace
}  // namespace gateway
