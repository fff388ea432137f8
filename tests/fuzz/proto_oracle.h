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

// True when no message in the tree has an unknown group or an unknown field
// whose number belongs to a known field of that message.
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
