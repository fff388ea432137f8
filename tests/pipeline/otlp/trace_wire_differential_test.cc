// Differential test of the trace wire layer against libprotobuf.
//
// Oracles:
//  - a "lenient" dynamic schema equal to OTLP's trace messages except that
//    every field the scanner does not look into is `bytes` (so libprotobuf
//    checks exactly the structure the scanner checks, and no UTF-8): scanner
//    and lenient parser must accept the same inputs and see the same spans.
//    The scanner is stricter in two documented ways, checked on the lenient
//    parse: groups, and known field numbers with the wrong wire type (which
//    libprotobuf files under unknown fields).
//  - the generated OTLP classes: whatever RewriteSpan, PatchTraceId,
//    BuildFanoutSpan and EncodeTraceRequest write must parse and equal the
//    message built with the generated API.
#include <cstdint>
#include <memory>
#include <random>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/trace_wire.h"

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
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::ResourceSpans;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;

constexpr int kCases = 2000;
constexpr uint64_t kSeed = 20240611;

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

class TraceWireDifferentialTest : public ::testing::Test {
 protected:
  std::string RandomId(size_t size) {
    std::string id(size, '\0');
    for (char& c : id) c = static_cast<char>(rng_());
    if (id.find_first_not_of('\0') == std::string::npos && size > 0) id[0] = 1;
    return id;
  }
  // Mostly valid; sometimes wrong length or zero.
  std::string MaybeBadId(size_t size) {
    switch (rng_() % 20) {
      case 0:
        return std::string(size, '\0');
      case 1:
        return RandomId(size - 1);
      case 2:
        return "";
      default:
        return RandomId(size);
    }
  }
  bool OneIn(int n) { return rng_() % n == 0; }
  std::string RandomText() { return std::string(rng_() % 12, static_cast<char>('a' + rng_() % 26)); }

  void AddUnknowns(Message* message) {
    if (!OneIn(4)) return;
    UnknownFieldSet* unknown = message->GetReflection()->MutableUnknownFields(message);
    const int number = 100 + static_cast<int>(rng_() % 50);
    switch (rng_() % 5) {
      case 0:
        unknown->AddVarint(number, rng_());
        break;
      case 1:
        unknown->AddFixed32(number, static_cast<uint32_t>(rng_()));
        break;
      case 2:
        unknown->AddFixed64(number, rng_());
        break;
      case 3:
        unknown->AddLengthDelimited(number, RandomText());
        break;
      default:
        if (OneIn(4)) unknown->AddGroup(number)->AddVarint(1, 1);  // scanner rejects groups
        break;
    }
  }

  void FillAnyValue(opentelemetry::proto::common::v1::AnyValue* value, int depth) {
    switch (rng_() % (depth > 1 ? 5 : 7)) {
      case 0:
        value->set_string_value(RandomText());
        break;
      case 1:
        value->set_bool_value(OneIn(2));
        break;
      case 2:
        value->set_int_value(static_cast<int64_t>(rng_()));
        break;
      case 3:
        value->set_double_value(static_cast<double>(rng_() % 1000) / 7.0);
        break;
      case 4:
        value->set_bytes_value(RandomId(rng_() % 5));
        break;
      case 5:
        for (int i = 0; i < 2; ++i) FillAnyValue(value->mutable_array_value()->add_values(), depth + 1);
        break;
      default: {
        auto* kv = value->mutable_kvlist_value()->add_values();
        kv->set_key(RandomText());
        FillAnyValue(kv->mutable_value(), depth + 1);
        break;
      }
    }
  }

  void AddAttributes(google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>* out) {
    const int n = static_cast<int>(rng_() % 4);
    for (int i = 0; i < n; ++i) {
      auto* kv = out->Add();
      kv->set_key(RandomText());
      FillAnyValue(kv->mutable_value(), 0);
    }
  }

  Span RandomSpan() {
    Span span;
    span.set_trace_id(MaybeBadId(16));
    span.set_span_id(MaybeBadId(8));
    if (OneIn(2)) span.set_parent_span_id(OneIn(15) ? RandomId(5) : RandomId(8));
    if (OneIn(3)) span.set_trace_state("k=" + RandomText());
    span.set_name(RandomText());
    span.set_kind(static_cast<Span::SpanKind>(rng_() % 6));
    span.set_start_time_unix_nano(rng_());
    span.set_end_time_unix_nano(rng_());
    AddAttributes(span.mutable_attributes());
    if (OneIn(4)) span.set_dropped_attributes_count(static_cast<uint32_t>(rng_() % 10));
    if (OneIn(3)) {
      auto* event = span.add_events();
      event->set_name(RandomText());
      event->set_time_unix_nano(rng_());
      AddAttributes(event->mutable_attributes());
    }
    const int links = static_cast<int>(rng_() % 4);
    for (int i = 0; i < links; ++i) {
      auto* link = span.add_links();
      link->set_trace_id(MaybeBadId(16));
      link->set_span_id(MaybeBadId(8));
      if (OneIn(3)) link->set_trace_state("l=" + RandomText());
      AddAttributes(link->mutable_attributes());
      if (OneIn(2)) link->set_flags(static_cast<uint32_t>(rng_() % 0x400));
      if (OneIn(5)) link->set_dropped_attributes_count(3);
      AddUnknowns(link);
    }
    if (OneIn(2)) {
      span.mutable_status()->set_code(static_cast<opentelemetry::proto::trace::v1::Status::StatusCode>(rng_() % 3));
      span.mutable_status()->set_message(RandomText());
    }
    if (OneIn(2)) span.set_flags(static_cast<uint32_t>(rng_() % 0x400));
    AddUnknowns(&span);
    return span;
  }

  ExportTraceServiceRequest RandomRequest() {
    ExportTraceServiceRequest request;
    const int resources = 1 + static_cast<int>(rng_() % 3);
    for (int r = 0; r < resources; ++r) {
      ResourceSpans* rs = request.add_resource_spans();
      // Few distinct resources, so equal frames from different requests meet.
      auto* kv = rs->mutable_resource()->add_attributes();
      kv->set_key("service.name");
      kv->mutable_value()->set_string_value("svc" + std::to_string(rng_() % 2));
      if (OneIn(2)) rs->set_schema_url("https://s/" + std::to_string(rng_() % 2));
      const int scopes = static_cast<int>(rng_() % 3);
      for (int s = 0; s < scopes; ++s) {
        ScopeSpans* ss = rs->add_scope_spans();
        ss->mutable_scope()->set_name("lib" + std::to_string(rng_() % 2));
        if (OneIn(3)) ss->set_schema_url("u");
        const int spans = static_cast<int>(rng_() % 5);
        for (int k = 0; k < spans; ++k) *ss->add_spans() = RandomSpan();
        AddUnknowns(ss);
      }
      AddUnknowns(rs);
    }
    AddUnknowns(&request);
    return request;
  }

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

  // Scanner vs lenient libprotobuf on `bytes`. Returns the scan when both
  // accepted.
  std::optional<ScannedTraceRequest> CompareScan(const std::string& bytes) {
    auto scanned = ScanTraceRequest(bytes);
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
    return *std::move(scanned);
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
  // message built with the generated API.
  std::string RandomOutput(const SpanRef& span, Span* expected) {
    last_rewrite_.reset();
    Span original;
    EXPECT_TRUE(original.ParseFromString(std::string(span.message)));
    *expected = original;
    switch (rng_() % 4) {
      case 0:
        return std::string(span.message);
      case 1: {
        TraceId id;
        TraceId::FromBytes(RandomId(16), &id);
        expected->set_trace_id(std::string(id.View()));
        return PatchTraceId(span, id);
      }
      case 2: {
        for (size_t l = 0; l < span.links.size(); ++l) {
          if (!span.links[l].valid) continue;
          SpanId id;
          SpanId::FromBytes(RandomId(8), &id);
          std::vector<ExtraAttribute> extra = {{"x", int64_t{-1}}};
          const auto& link = original.links(static_cast<int>(l));
          expected->Clear();
          expected->set_trace_id(link.trace_id());
          expected->set_span_id(std::string(id.View()));
          expected->set_trace_state(link.trace_state());
          expected->set_parent_span_id(link.span_id());
          expected->set_kind(Span::SPAN_KIND_CONSUMER);
          expected->set_flags((link.flags() & 0xff) | 0x300);
          expected->set_name(original.name());
          expected->set_start_time_unix_nano(original.start_time_unix_nano());
          expected->set_end_time_unix_nano(original.end_time_unix_nano());
          *expected->mutable_attributes() = original.attributes();
          if (original.has_status()) *expected->mutable_status() = original.status();
          for (const auto& kv : link.attributes()) *expected->add_attributes() = kv;
          auto* x = expected->add_attributes();
          x->set_key("x");
          x->mutable_value()->set_int_value(-1);
          return BuildFanoutSpan(span, span.links[l], id, extra);
        }
        return std::string(span.message);
      }
      default: {
        SpanRewrite rewrite;
        if (OneIn(2)) {
          rewrite.trace_id.emplace();
          TraceId::FromBytes(RandomId(16), &*rewrite.trace_id);
          expected->set_trace_id(std::string(rewrite.trace_id->View()));
        }
        if (OneIn(2)) {
          rewrite.parent_span_id.emplace();
          SpanId::FromBytes(RandomId(8), &*rewrite.parent_span_id);
          expected->set_parent_span_id(std::string(rewrite.parent_span_id->View()));
        }
        if (OneIn(2)) {
          rewrite.trace_state = OneIn(2) ? std::string() : "t=" + RandomText();
          expected->set_trace_state(*rewrite.trace_state);
        }
        if (OneIn(2)) {
          rewrite.flags = static_cast<uint32_t>(rng_() % 0x400);
          expected->set_flags(*rewrite.flags);
        }
        if (!span.links.empty() && OneIn(2)) {
          rewrite.remove_link = static_cast<int>(rng_() % span.links.size());
          expected->mutable_links()->DeleteSubrange(rewrite.remove_link, 1);
        }
        if (OneIn(2)) {
          TraceId t;
          SpanId s;
          TraceId::FromBytes(RandomId(16), &t);
          SpanId::FromBytes(RandomId(8), &s);
          std::vector<ExtraAttribute> attrs = {{"k", std::string("v")}, {"b", true}};
          rewrite.extra_links.push_back(EncodeLink(t, s, OneIn(2) ? "" : "z=1", 0x301, attrs));
          EXPECT_TRUE(expected->add_links()->ParseFromString(rewrite.extra_links.back()));
          const auto& added = expected->links(expected->links_size() - 1);
          EXPECT_EQ(added.attributes_size(), 2);
          EXPECT_EQ(added.flags(), 0x301u);
        }
        if (OneIn(2)) {
          rewrite.extra_attributes = {{"a", std::string("")}, {"n", int64_t{7}}, {"f", false}};
          auto* a = expected->add_attributes();
          a->set_key("a");
          a->mutable_value()->set_string_value("");
          auto* n = expected->add_attributes();
          n->set_key("n");
          n->mutable_value()->set_int_value(7);
          auto* f = expected->add_attributes();
          f->set_key("f");
          f->mutable_value()->set_bool_value(false);
        }
        last_rewrite_ = rewrite;
        return RewriteSpan(span, rewrite);
      }
    }
  }

  // Encodes the spans of two scans (so frames are joined across requests)
  // and compares with a reference grouping built with libprotobuf.
  void CheckEncoding(const std::vector<const ScannedTraceRequest*>& scans) {
    struct Group {
      std::string resource;
      std::string scope;
      std::vector<Span> spans;
    };
    std::vector<Group> groups;
    std::vector<OutputSpan> outputs;
    for (const ScannedTraceRequest* scan : scans) {
      for (const SpanRef& span : scan->spans) {
        Span expected;
        OutputSpan out = OutputSpan::Unchanged(span, scan->buffer);
        std::string bytes = RandomOutput(span, &expected);
        if (bytes != span.message) out.rewritten = std::move(bytes);
        Span actual;
        ASSERT_TRUE(actual.ParseFromString(std::string(out.bytes())));
        std::string diff;
        MessageDifferencer differencer;
        differencer.ReportDifferencesToString(&diff);
        EXPECT_TRUE(differencer.Compare(actual, expected)) << diff;
        if (last_rewrite_.has_value() && OneIn(2)) {
          // The same rewrite spliced by the encoder from the received bytes.
          OutputSpan spliced = OutputSpan::Unchanged(span, scan->buffer);
          SpliceRewrite(span, *last_rewrite_, &spliced);
          EXPECT_EQ(spliced.size(), out.bytes().size());
          EXPECT_EQ(EncodeTraceRequest({spliced}), EncodeTraceRequest({out}));
          out = std::move(spliced);
        }
        const std::string& resource = span.buffer->resource_frames[span.buffer->scope_resource[span.scope_index]];
        const std::string& scope = span.buffer->scope_frames[span.scope_index];
        Group* group = nullptr;
        for (Group& g : groups) {
          if (g.resource == resource && g.scope == scope) group = &g;
        }
        if (group == nullptr) group = &groups.emplace_back(Group{resource, scope, {}});
        group->spans.push_back(expected);
        outputs.push_back(std::move(out));
      }
    }
    ExportTraceServiceRequest expected;
    std::vector<std::string> resource_order;
    for (const Group& g : groups) {
      int r = -1;
      for (size_t i = 0; i < resource_order.size(); ++i) {
        if (resource_order[i] == g.resource) r = static_cast<int>(i);
      }
      if (r < 0) {
        r = static_cast<int>(resource_order.size());
        resource_order.push_back(g.resource);
        ASSERT_TRUE(expected.add_resource_spans()->ParseFromString(g.resource));
      }
      ScopeSpans* ss = expected.mutable_resource_spans(r)->add_scope_spans();
      ASSERT_TRUE(ss->ParseFromString(g.scope));
      for (const Span& s : g.spans) *ss->add_spans() = s;
    }
    const std::string encoded = EncodeTraceRequest(outputs);
    size_t bound = 0;
    for (const OutputSpan& out : outputs) bound += EncodedSpanSize(out);
    EXPECT_LE(bound, encoded.size());
    ExportTraceServiceRequest actual;
    ASSERT_TRUE(actual.ParseFromString(encoded));
    std::string diff;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(actual, expected)) << diff;
  }

  std::mt19937_64 rng_{kSeed};
  // The rewrite behind RandomOutput's last answer, if it was one.
  std::optional<SpanRewrite> last_rewrite_;
  LenientSchema schema_;
  int disagreements_ = 0;
  int stricter_rejections_ = 0;
};

TEST_F(TraceWireDifferentialTest, ScannerAgreesWithLibprotobufOnGeneratedAndMutatedRequests) {
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

TEST_F(TraceWireDifferentialTest, WrittenSpansAndRequestsEqualWhatLibprotobufBuilds) {
  int checked = 0;
  for (int i = 0; i < kCases / 2 && !HasFailure(); ++i) {
    ExportTraceServiceRequest a = RandomRequest();
    ExportTraceServiceRequest b = RandomRequest();
    auto scan_a = ScanTraceRequest(a.SerializeAsString());
    auto scan_b = ScanTraceRequest(b.SerializeAsString());
    if (!scan_a.ok() || !scan_b.ok()) continue;  // groups in unknown fields
    CheckEncoding({&*scan_a, &*scan_b});
    ++checked;
  }
  EXPECT_GT(checked, kCases / 4);
}

}  // namespace
}  // namespace gateway
