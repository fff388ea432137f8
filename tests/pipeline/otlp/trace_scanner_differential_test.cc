// Differential test of the trace scanner against libprotobuf.
//
// Oracle: a "lenient" dynamic schema equal to OTLP's trace messages except
// that every field the scanner does not look into is `bytes` (so libprotobuf
// checks exactly the structure the scanner checks, and no UTF-8): scanner and
// lenient parser must accept the same inputs and see the same spans. The
// scanner is stricter in two documented ways, checked on the lenient parse:
// groups, and known field numbers with the wrong wire type (which
// libprotobuf files under unknown fields).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/message_differencer.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_scanner.h"
#include "pipeline/otlp/utf8_check.h"
#include "tests/pipeline/otlp/random_trace_request.h"

namespace gateway {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DescriptorProto;
using ::google::protobuf::DynamicMessageFactory;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FieldDescriptorProto;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ::google::protobuf::UnknownField;
using ::google::protobuf::UnknownFieldSet;
using ::google::protobuf::util::MessageDifferencer;

constexpr int kCases = 2000;

void AddField(DescriptorProto* message, const char* name, int number, FieldDescriptorProto::Type type,
              bool repeated = false, const char* type_name = nullptr) {
  FieldDescriptorProto* field = message->add_field();
  field->set_name(name);
  field->set_number(number);
  field->set_type(type);
  field->set_label(repeated ? FieldDescriptorProto::LABEL_REPEATED : FieldDescriptorProto::LABEL_OPTIONAL);
  if (type_name != nullptr) field->set_type_name(type_name);
}

// The lenient schema, built once.
class LenientSchema {
 public:
  LenientSchema() {
    using T = FieldDescriptorProto;
    FileDescriptorProto file;
    file.set_name("lenient_trace.proto");
    file.set_package("lenient");
    file.set_syntax("proto3");
    DescriptorProto* request = file.add_message_type();
    request->set_name("Request");
    AddField(request, "resource_spans", 1, T::TYPE_MESSAGE, true, ".lenient.ResourceSpans");
    DescriptorProto* rs = file.add_message_type();
    rs->set_name("ResourceSpans");
    AddField(rs, "resource", 1, T::TYPE_BYTES);
    AddField(rs, "scope_spans", 2, T::TYPE_MESSAGE, true, ".lenient.ScopeSpans");
    AddField(rs, "schema_url", 3, T::TYPE_BYTES);
    DescriptorProto* ss = file.add_message_type();
    ss->set_name("ScopeSpans");
    AddField(ss, "scope", 1, T::TYPE_BYTES);
    AddField(ss, "spans", 2, T::TYPE_MESSAGE, true, ".lenient.Span");
    AddField(ss, "schema_url", 3, T::TYPE_BYTES);
    DescriptorProto* span = file.add_message_type();
    span->set_name("Span");
    AddField(span, "trace_id", 1, T::TYPE_BYTES);
    AddField(span, "span_id", 2, T::TYPE_BYTES);
    AddField(span, "trace_state", 3, T::TYPE_BYTES);
    AddField(span, "parent_span_id", 4, T::TYPE_BYTES);
    AddField(span, "name", 5, T::TYPE_BYTES);
    AddField(span, "kind", 6, T::TYPE_INT32);
    AddField(span, "start_time_unix_nano", 7, T::TYPE_FIXED64);
    AddField(span, "end_time_unix_nano", 8, T::TYPE_FIXED64);
    AddField(span, "attributes", 9, T::TYPE_BYTES, true);
    AddField(span, "dropped_attributes_count", 10, T::TYPE_UINT32);
    AddField(span, "events", 11, T::TYPE_BYTES, true);
    AddField(span, "dropped_events_count", 12, T::TYPE_UINT32);
    AddField(span, "links", 13, T::TYPE_MESSAGE, true, ".lenient.Link");
    AddField(span, "dropped_links_count", 14, T::TYPE_UINT32);
    AddField(span, "status", 15, T::TYPE_BYTES);
    AddField(span, "flags", 16, T::TYPE_FIXED32);
    DescriptorProto* link = file.add_message_type();
    link->set_name("Link");
    AddField(link, "trace_id", 1, T::TYPE_BYTES);
    AddField(link, "span_id", 2, T::TYPE_BYTES);
    AddField(link, "trace_state", 3, T::TYPE_BYTES);
    AddField(link, "attributes", 4, T::TYPE_BYTES, true);
    AddField(link, "dropped_attributes_count", 5, T::TYPE_UINT32);
    AddField(link, "flags", 6, T::TYPE_FIXED32);
    const auto* built = pool_.BuildFile(file);
    if (built == nullptr) std::abort();
    request_ = pool_.FindMessageTypeByName("lenient.Request");
    rs_ = pool_.FindMessageTypeByName("lenient.ResourceSpans");
    ss_ = pool_.FindMessageTypeByName("lenient.ScopeSpans");
    span_ = pool_.FindMessageTypeByName("lenient.Span");
    link_ = pool_.FindMessageTypeByName("lenient.Link");
  }

  std::unique_ptr<Message> New(const Descriptor* d) { return std::unique_ptr<Message>(factory_.GetPrototype(d)->New()); }

  const Descriptor* request_;
  const Descriptor* rs_;
  const Descriptor* ss_;
  const Descriptor* span_;
  const Descriptor* link_;

 private:
  DescriptorPool pool_;
  DynamicMessageFactory factory_{&pool_};
};

// True when the lenient parse shows something the scanner rejects on
// purpose: a group, or a known field number with the wrong wire type.
bool HasStricterRejection(const Message& message) {
  const Reflection* reflection = message.GetReflection();
  const UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const UnknownField& field = unknown.field(i);
    if (field.type() == UnknownField::TYPE_GROUP) return true;
    if (message.GetDescriptor()->FindFieldByNumber(field.number()) != nullptr) return true;
  }
  const Descriptor* d = message.GetDescriptor();
  for (int f = 0; f < d->field_count(); ++f) {
    const FieldDescriptor* field = d->field(f);
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) continue;
    for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
      if (HasStricterRejection(reflection->GetRepeatedMessage(message, field, i))) return true;
    }
  }
  return false;
}

const Message& Repeated(const Message& m, const char* name, int i) {
  return m.GetReflection()->GetRepeatedMessage(m, m.GetDescriptor()->FindFieldByName(name), i);
}
int Size(const Message& m, const char* name) {
  return m.GetReflection()->FieldSize(m, m.GetDescriptor()->FindFieldByName(name));
}
std::string Bytes(const Message& m, const char* name) {
  return m.GetReflection()->GetString(m, m.GetDescriptor()->FindFieldByName(name));
}
uint64_t U64(const Message& m, const char* name) {
  return m.GetReflection()->GetUInt64(m, m.GetDescriptor()->FindFieldByName(name));
}
uint32_t U32(const Message& m, const char* name) {
  return m.GetReflection()->GetUInt32(m, m.GetDescriptor()->FindFieldByName(name));
}
int32_t I32(const Message& m, const char* name) {
  return m.GetReflection()->GetInt32(m, m.GetDescriptor()->FindFieldByName(name));
}

bool IdOk(const std::string& id, size_t size) {
  return id.size() == size && id.find_first_not_of('\0') != std::string::npos;
}

class TraceScannerDifferentialTest : public testing::RandomTraceRequestTest {
 protected:
  std::string Mutate(std::string bytes) {
    const int mutations = 1 + static_cast<int>(rng_() % 3);
    for (int m = 0; m < mutations && !bytes.empty(); ++m) {
      const size_t at = rng_() % bytes.size();
      switch (rng_() % 5) {
        case 0:
          bytes[at] = static_cast<char>(rng_());
          break;
        case 1:
          bytes[at] ^= static_cast<char>(1 << (rng_() % 8));
          break;
        case 2:
          bytes.resize(at);
          break;
        case 3:
          bytes.insert(at, 1, static_cast<char>(rng_()));
          break;
        default:
          bytes.erase(at, 1);
          break;
      }
    }
    return bytes;
  }

  // Scanner vs lenient libprotobuf on `bytes`, strings taken as bytes (the
  // UTF-8 search off, as the lenient schema has no strings). Returns the
  // scan when both accepted.
  std::optional<ScannedTraceRequest> CompareScan(const std::string& bytes) {
    auto scanned = ScanTraceRequest(bytes, Utf8Check::kSkip);
    std::unique_ptr<Message> lenient = schema_.New(schema_.request_);
    const bool lenient_ok = lenient->ParseFromString(bytes);
    if (!lenient_ok) {
      EXPECT_FALSE(scanned.ok()) << "scanner accepted what libprotobuf rejects";
      if (scanned.ok()) ++disagreements_;
      return std::nullopt;
    }
    if (HasStricterRejection(*lenient)) {
      EXPECT_FALSE(scanned.ok()) << "scanner accepted a group or a wrong wire type";
      ++stricter_rejections_;
      return std::nullopt;
    }
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    if (!scanned.ok()) {
      ++disagreements_;
      return std::nullopt;
    }
    ExpectSameView(*lenient, *scanned);
    ExpectUtf8SearchOnlyRemoves(bytes, *scanned);
    return *std::move(scanned);
  }

  // With the UTF-8 search on, the same spans in the same order, less those
  // whose own strings, resource or scope hold invalid UTF-8.
  static void ExpectUtf8SearchOnlyRemoves(const std::string& bytes, const ScannedTraceRequest& all) {
    auto searched = ScanTraceRequest(bytes, Utf8Check::kPerSpan);
    ASSERT_TRUE(searched.ok()) << searched.status();
    size_t k = 0;
    int64_t removed = 0;
    for (const SpanRef& span : all.spans) {
      const RequestBuffer& buffer = *all.buffer;
      const bool invalid = FindInvalidUtf8InSpan(span.message) != nullptr ||
                           FindInvalidUtf8InScopeFrame(buffer.scope_frames[span.scope_index]) != nullptr ||
                           FindInvalidUtf8InResourceFrame(
                               buffer.resource_frames[buffer.scope_resource[span.scope_index]]) != nullptr;
      if (invalid) {
        ++removed;
        continue;
      }
      ASSERT_LT(k, searched->spans.size());
      EXPECT_EQ(searched->spans[k].span_id, span.span_id);
      EXPECT_EQ(searched->spans[k].links.size(), span.links.size());
      ++k;
    }
    EXPECT_EQ(k, searched->spans.size());
    EXPECT_EQ(searched->invalid_utf8_spans, removed);
    EXPECT_EQ(searched->rejected_spans, all.rejected_spans + removed);
  }

  void ExpectSameView(const Message& request, const ScannedTraceRequest& scanned) {
    size_t next = 0;
    int64_t rejected = 0;
    uint32_t scope_index = 0;
    ASSERT_EQ(scanned.buffer->resource_frames.size(), static_cast<size_t>(Size(request, "resource_spans")));
    for (int r = 0; r < Size(request, "resource_spans"); ++r) {
      const Message& rs = Repeated(request, "resource_spans", r);
      {
        std::unique_ptr<Message> frame = schema_.New(schema_.rs_);
        ASSERT_TRUE(frame->ParseFromString(scanned.buffer->resource_frames[r]));
        std::unique_ptr<Message> expected(rs.New());
        expected->CopyFrom(rs);
        expected->GetReflection()->ClearField(expected.get(), schema_.rs_->FindFieldByName("scope_spans"));
        EXPECT_TRUE(MessageDifferencer::Equals(*frame, *expected));
      }
      for (int s = 0; s < Size(rs, "scope_spans"); ++s, ++scope_index) {
        const Message& ss = Repeated(rs, "scope_spans", s);
        ASSERT_LT(scope_index, scanned.buffer->scope_frames.size());
        EXPECT_EQ(scanned.buffer->scope_resource[scope_index], static_cast<uint32_t>(r));
        std::unique_ptr<Message> frame = schema_.New(schema_.ss_);
        ASSERT_TRUE(frame->ParseFromString(scanned.buffer->scope_frames[scope_index]));
        std::unique_ptr<Message> expected(ss.New());
        expected->CopyFrom(ss);
        expected->GetReflection()->ClearField(expected.get(), schema_.ss_->FindFieldByName("spans"));
        EXPECT_TRUE(MessageDifferencer::Equals(*frame, *expected));
        for (int k = 0; k < Size(ss, "spans"); ++k) {
          const Message& span = Repeated(ss, "spans", k);
          const std::string trace_id = Bytes(span, "trace_id");
          const std::string span_id = Bytes(span, "span_id");
          const std::string parent = Bytes(span, "parent_span_id");
          if (!IdOk(trace_id, 16) || !IdOk(span_id, 8) || !(parent.empty() || parent.size() == 8)) {
            ++rejected;
            continue;
          }
          ASSERT_LT(next, scanned.spans.size());
          const SpanRef& ref = scanned.spans[next++];
          EXPECT_EQ(ref.scope_index, scope_index);
          EXPECT_EQ(ref.trace_id.View(), trace_id);
          EXPECT_EQ(ref.span_id.View(), span_id);
          EXPECT_EQ(ref.has_parent, IdOk(parent, 8));
          if (ref.has_parent) {
            EXPECT_EQ(ref.parent_span_id.View(), parent);
          }
          EXPECT_EQ(static_cast<int32_t>(ref.kind), I32(span, "kind"));
          EXPECT_EQ(ref.flags, U32(span, "flags"));
          EXPECT_EQ(ref.end_time_unix_nano, U64(span, "end_time_unix_nano"));
          EXPECT_EQ(ref.message.substr(ref.trace_id_offset, 16), trace_id);
          std::unique_ptr<Message> reparsed = schema_.New(schema_.span_);
          ASSERT_TRUE(reparsed->ParseFromString(std::string(ref.message)));
          EXPECT_TRUE(MessageDifferencer::Equals(*reparsed, span));
          ASSERT_EQ(ref.links.size(), static_cast<size_t>(Size(span, "links")));
          for (int l = 0; l < Size(span, "links"); ++l) {
            const Message& link = Repeated(span, "links", l);
            const LinkRef& link_ref = ref.links[l];
            const bool valid = IdOk(Bytes(link, "trace_id"), 16) && IdOk(Bytes(link, "span_id"), 8);
            EXPECT_EQ(link_ref.valid, valid);
            if (valid) {
              EXPECT_EQ(link_ref.trace_id.View(), Bytes(link, "trace_id"));
              EXPECT_EQ(link_ref.span_id.View(), Bytes(link, "span_id"));
            }
            EXPECT_EQ(link_ref.trace_state, Bytes(link, "trace_state"));
            EXPECT_EQ(link_ref.flags, U32(link, "flags"));
            std::unique_ptr<Message> link_reparsed = schema_.New(schema_.link_);
            ASSERT_TRUE(link_reparsed->ParseFromString(std::string(link_ref.message)));
            EXPECT_TRUE(MessageDifferencer::Equals(*link_reparsed, link));
          }
        }
      }
    }
    EXPECT_EQ(next, scanned.spans.size());
    EXPECT_EQ(scanned.rejected_spans, rejected);
  }

  // Applies a random change to `span`; returns the bytes and the expected

  LenientSchema schema_;
  int disagreements_ = 0;
  int stricter_rejections_ = 0;
};

TEST_F(TraceScannerDifferentialTest, ScannerAgreesWithLibprotobufOnGeneratedAndMutatedRequests) {
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < kCases && disagreements_ < 5 && !HasFatalFailure(); ++i) {
    const std::string bytes = RandomRequest().SerializeAsString();
    const std::string input = OneIn(2) ? Mutate(bytes) : bytes;
    std::optional<ScannedTraceRequest> scanned = CompareScan(input);
    scanned.has_value() ? ++accepted : ++rejected;
  }
  EXPECT_EQ(disagreements_, 0);
  // The generator must exercise both outcomes.
  EXPECT_GT(accepted, kCases / 4);
  EXPECT_GT(rejected, kCases / 20);
  EXPECT_GT(stricter_rejections_, 0);
}

}  // namespace
}  // namespace gateway
