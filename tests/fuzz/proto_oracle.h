// libprotobuf as an oracle for the hand-written wire code.
//
// libprotobuf accepts two things our scanners reject on purpose: a known
// field number with the wrong wire type (filed under unknown fields) and
// groups. ParsedStrictly() says whether a parsed message contains neither,
// anywhere in the tree, so that "libprotobuf parses it" implies "our code
// must accept it".
//
//   Request r;
//   if (r.ParseFromString(body) && ParsedStrictly(r)) FUZZ_CHECK(Scan(body).ok(), "...");
#pragma once

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"

namespace gateway::fuzz {

// Silences libprotobuf's "invalid UTF-8" and similar log lines, which would
// otherwise dominate a fuzzing run. Call once; returns true.
inline bool QuietLibprotobuf() {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}

// True when the wire bytes of a `descriptor` message set two different
// members of one oneof, at any depth. libprotobuf then keeps the last member
// only, and whatever the earlier one held (a known field with the wrong wire
// type, filed as unknown) is gone from the parsed tree, out of sight of
// ParsedStrictly.
inline bool OverwritesAOneof(const google::protobuf::Descriptor* descriptor, const std::string& bytes,
                             int depth = 0) {
  if (depth > 100) return false;
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(bytes)) return false;
  std::vector<int> last_member(static_cast<size_t>(descriptor->oneof_decl_count()), 0);
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& raw = fields.field(i);
    const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByNumber(raw.number());
    if (field == nullptr) continue;
    if (const google::protobuf::OneofDescriptor* oneof = field->containing_oneof(); oneof != nullptr) {
      int& last = last_member[static_cast<size_t>(oneof->index())];
      if (last != 0 && last != field->number()) return true;
      last = field->number();
    }
    if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        raw.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED &&
        OverwritesAOneof(field->message_type(), raw.length_delimited(), depth + 1)) {
      return true;
    }
  }
  return false;
}

// True when no message in the tree has an unknown group or an unknown field
// whose number belongs to a known field of that message. (Callers that need
// the whole body accounted for also check !OverwritesAOneof.)
inline bool ParsedStrictly(const google::protobuf::Message& message, int depth = 0) {
  if (depth > 200) return false;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const google::protobuf::UnknownField& field = unknown.field(i);
    if (field.type() == google::protobuf::UnknownField::TYPE_GROUP) return false;
    if (descriptor->FindFieldByNumber(field.number()) != nullptr) return false;
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        if (!ParsedStrictly(reflection->GetRepeatedMessage(message, field, i), depth + 1)) return false;
      }
    } else if (!ParsedStrictly(reflection->GetMessage(message, field), depth + 1)) {
      return false;
    }
  }
  return true;
}

}  // namespace gateway::fuzz
