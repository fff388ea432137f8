#include "tests/pipeline/otlp/random_trace_request.h"

#include <string>

#include "google/protobuf/unknown_field_set.h"

namespace gateway::testing {

using ::google::protobuf::Message;
using ::google::protobuf::UnknownFieldSet;
using ::opentelemetry::proto::trace::v1::ResourceSpans;
using ::opentelemetry::proto::trace::v1::ScopeSpans;

std::string RandomTraceRequestTest::RandomId(size_t size) {
  std::string id(size, '\0');
  for (char& c : id) c = static_cast<char>(rng_());
  if (id.find_first_not_of('\0') == std::string::npos && size > 0) id[0] = 1;
  return id;
}

std::string RandomTraceRequestTest::MaybeBadId(size_t size) {
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

void RandomTraceRequestTest::AddUnknowns(Message* message) {
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

void RandomTraceRequestTest::FillAnyValue(::opentelemetry::proto::common::v1::AnyValue* value, int depth) {
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

void RandomTraceRequestTest::AddAttributes(
    ::google::protobuf::RepeatedPtrField<::opentelemetry::proto::common::v1::KeyValue>* out) {
  const int n = static_cast<int>(rng_() % 4);
  for (int i = 0; i < n; ++i) {
    auto* kv = out->Add();
    kv->set_key(RandomText());
    FillAnyValue(kv->mutable_value(), 0);
  }
}

RandomTraceRequestTest::Span RandomTraceRequestTest::RandomSpan() {
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

RandomTraceRequestTest::ExportTraceServiceRequest RandomTraceRequestTest::RandomRequest() {
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

}  // namespace gateway::testing
