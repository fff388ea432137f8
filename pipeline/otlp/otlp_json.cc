#include "pipeline/otlp/otlp_json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>  // PreciseHandler instantiates basic_parser

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/otlp/otlp_json_schema.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

namespace json = ::boost::json;
using ::google::protobuf::EnumValueDescriptor;
using otlp_json_internal::FieldInfo;
using otlp_json_internal::Kind;
using otlp_json_internal::MessageInfo;
using otlp_json_internal::OtlpJsonSchema;

// Deepest nesting of protobuf messages accepted (the request itself is 1).
constexpr int kMaxMessageDepth = 64;
// JSON nesting allowed to the parser: each message level costs at most an
// object and an array, plus slack for ignored unknown values.
constexpr size_t kMaxJsonDepth = 2 * kMaxMessageDepth + 16;

// One step of the JSON path, kept on the stack and rendered only on error.
struct PathNode {
  const PathNode* parent;
  std::string_view key;
  int64_t index = -1;  // >= 0: an array element of the parent's key.
};

std::string PathString(const PathNode* node) {
  std::vector<const PathNode*> chain;
  for (; node != nullptr; node = node->parent) chain.push_back(node);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const PathNode* n = *it;
    if (n->index >= 0) {
      absl::StrAppend(&out, "[", n->index, "]");
    } else {
      if (!out.empty()) out.push_back('.');
      out.append(n->key);
    }
  }
  return out;
}

absl::Status Invalid(const PathNode* path, std::string_view message) {
  std::string where = PathString(path);
  if (where.empty()) return absl::InvalidArgumentError(ToAbsl(message));
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", ToAbsl(message)));
}

std::string_view View(const json::string& s) { return std::string_view(s.data(), s.size()); }

// Appends protobuf wire primitives (wire_format.h's) to a string, with a
// deferred length for nested messages.
class WireWriter {
 public:
  explicit WireWriter(std::string* out) : out_(out) {}

  void Varint(uint64_t v) { AppendVarint(out_, v); }
  void Tag(uint32_t number, WireType type) { AppendTag(out_, number, type); }
  void Fixed32(uint32_t v) { AppendFixed32(out_, v); }
  void Fixed64(uint64_t v) { AppendFixed64(out_, v); }
  void Bytes(std::string_view data) {
    AppendVarint(out_, data.size());
    out_->append(data);
  }

  // Reserves one byte for the length of what follows; returns the offset
  // where the payload starts, for EndLength.
  size_t BeginLength() {
    out_->push_back('\0');
    return out_->size();
  }

  // Writes the payload length in front of it, widening the reserved byte
  // when the payload is 128 bytes or longer.
  void EndLength(size_t start) {
    const uint64_t length = out_->size() - start;
    if (length < 0x80) {
      (*out_)[start - 1] = static_cast<char>(length);
      return;
    }
    char buf[10];
    const size_t n = static_cast<size_t>(WriteVarint(buf, length) - buf);
    out_->insert(start, n - 1, '\0');
    std::memcpy(out_->data() + start - 1, buf, n);
  }

 private:
  std::string* out_;
};

template <typename T>
constexpr double UpperBound() {
  // 2^digits: the first value past T's maximum, exact as a double.
  double bound = 1.0;
  for (int i = 0; i < std::numeric_limits<T>::digits; ++i) bound *= 2.0;
  return bound;
}

// Reads an integer of type T from a JSON number (integral value) or a
// decimal string.
template <typename T>
absl::Status ReadInteger(const json::value& v, const PathNode* path, T* out) {
  switch (v.kind()) {
    case json::kind::int64: {
      const int64_t x = v.get_int64();
      if (!std::in_range<T>(x)) return Invalid(path, "integer out of range");
      *out = static_cast<T>(x);
      return absl::OkStatus();
    }
    case json::kind::uint64: {
      const uint64_t x = v.get_uint64();
      if (!std::in_range<T>(x)) return Invalid(path, "integer out of range");
      *out = static_cast<T>(x);
      return absl::OkStatus();
    }
    case json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d) || std::trunc(d) != d) return Invalid(path, "expected an integer");
      if (d < static_cast<double>(std::numeric_limits<T>::min()) || d >= UpperBound<T>()) {
        return Invalid(path, "integer out of range");
      }
      *out = static_cast<T>(d);
      return absl::OkStatus();
    }
    case json::kind::string: {
      const json::string& s = v.get_string();
      const char* end = s.data() + s.size();
      T x{};
      auto [ptr, ec] = std::from_chars(s.data(), end, x);
      if (ec == std::errc::result_out_of_range) return Invalid(path, "integer out of range");
      if (s.empty() || ec != std::errc() || ptr != end) return Invalid(path, "expected an integer");
      *out = x;
      return absl::OkStatus();
    }
    default:
      return Invalid(path, "expected an integer");
  }
}

absl::Status ReadDouble(const json::value& v, const PathNode* path, double* out) {
  switch (v.kind()) {
    case json::kind::int64:
      *out = static_cast<double>(v.get_int64());
      return absl::OkStatus();
    case json::kind::uint64:
      *out = static_cast<double>(v.get_uint64());
      return absl::OkStatus();
    case json::kind::double_:
      *out = v.get_double();
      return absl::OkStatus();
    case json::kind::string: {
      const std::string_view s = View(v.get_string());
      if (s == "NaN") {
        *out = std::numeric_limits<double>::quiet_NaN();
        return absl::OkStatus();
      }
      if (s == "Infinity") {
        *out = std::numeric_limits<double>::infinity();
        return absl::OkStatus();
      }
      if (s == "-Infinity") {
        *out = -std::numeric_limits<double>::infinity();
        return absl::OkStatus();
      }
      double d = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) {
        return Invalid(path, "expected a number");
      }
      *out = d;
      return absl::OkStatus();
    }
    default:
      return Invalid(path, "expected a number");
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Converter {
 public:
  explicit Converter(std::string* out) : w_(out) {}

  absl::Status Message(const json::object& object, const MessageInfo& info, const PathNode* path, int depth) {
    if (depth > kMaxMessageDepth) return Invalid(path, "nesting deeper than 64 levels");
    uint64_t oneofs_seen = 0;
    for (const json::key_value_pair& member : object) {
      const std::string_view key(member.key().data(), member.key().size());
      const FieldInfo* field = info.Find(key);
      if (field == nullptr) continue;  // unknown keys are ignored
      const json::value& value = member.value();
      if (value.is_null()) continue;
      const PathNode node{path, key};
      if (field->oneof_index >= 0 && field->oneof_index < 64) {
        const uint64_t bit = uint64_t{1} << field->oneof_index;
        if (oneofs_seen & bit) return Invalid(&node, "more than one member of a oneof is set");
        oneofs_seen |= bit;
      }
      if (!field->repeated) {
        absl::Status status = Singular(value, *field, &node, depth);
        if (!status.ok()) return status;
        continue;
      }
      if (!value.is_array()) return Invalid(&node, "expected an array");
      const json::array& array = value.get_array();
      if (array.empty()) continue;
      if (field->packed) {
        w_.Tag(field->number, WireType::kLengthDelimited);
        const size_t start = w_.BeginLength();
        for (size_t i = 0; i < array.size(); ++i) {
          const PathNode element{&node, {}, static_cast<int64_t>(i)};
          absl::Status status = ScalarPayload(array[i], *field, &element);
          if (!status.ok()) return status;
        }
        w_.EndLength(start);
        continue;
      }
      for (size_t i = 0; i < array.size(); ++i) {
        const PathNode element{&node, {}, static_cast<int64_t>(i)};
        if (array[i].is_null()) return Invalid(&element, "null in an array");
        absl::Status status = Singular(array[i], *field, &element, depth);
        if (!status.ok()) return status;
      }
    }
    return absl::OkStatus();
  }

 private:
  // One field occurrence: tag and value.
  absl::Status Singular(const json::value& value, const FieldInfo& field, const PathNode* path, int depth) {
    switch (field.kind) {
      case Kind::kMessage: {
        if (!value.is_object()) return Invalid(path, "expected an object");
        w_.Tag(field.number, WireType::kLengthDelimited);
        const size_t start = w_.BeginLength();
        absl::Status status = Message(value.get_object(), *field.message, path, depth + 1);
        if (!status.ok()) return status;
        w_.EndLength(start);
        return absl::OkStatus();
      }
      case Kind::kString: {
        if (!value.is_string()) return Invalid(path, "expected a string");
        w_.Tag(field.number, WireType::kLengthDelimited);
        w_.Bytes(View(value.get_string()));
        return absl::OkStatus();
      }
      case Kind::kBytes: {
        if (!value.is_string()) return Invalid(path, "expected a base64 string");
        const absl::string_view text = ToAbsl(View(value.get_string()));
        std::string decoded;
        if (!absl::Base64Unescape(text, &decoded) && !absl::WebSafeBase64Unescape(text, &decoded)) {
          return Invalid(path, "expected a base64 string");
        }
        w_.Tag(field.number, WireType::kLengthDelimited);
        w_.Bytes(decoded);
        return absl::OkStatus();
      }
      case Kind::kHexId:
        return HexId(value, field, path);
      default:
        break;
    }
    w_.Tag(field.number, ScalarWireType(field.kind));
    return ScalarPayload(value, field, path);
  }

  absl::Status HexId(const json::value& value, const FieldInfo& field, const PathNode* path) {
    const size_t hex_chars = 2 * field.id_bytes;
    if (!value.is_string()) return Invalid(path, absl::StrCat("expected ", hex_chars, " hex characters"));
    const std::string_view hex = View(value.get_string());
    if (hex.empty()) return absl::OkStatus();  // an empty id is an absent id
    if (hex.size() != hex_chars) return Invalid(path, absl::StrCat("expected ", hex_chars, " hex characters"));
    char bytes[16];
    for (size_t i = 0; i < field.id_bytes; ++i) {
      const int hi = HexDigit(hex[2 * i]);
      const int lo = HexDigit(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return Invalid(path, absl::StrCat("expected ", hex_chars, " hex characters"));
      bytes[i] = static_cast<char>((hi << 4) | lo);
    }
    w_.Tag(field.number, WireType::kLengthDelimited);
    w_.Bytes(std::string_view(bytes, field.id_bytes));
    return absl::OkStatus();
  }

  static WireType ScalarWireType(Kind kind) {
    switch (kind) {
      case Kind::kFixed32:
      case Kind::kSfixed32:
      case Kind::kFloat:
        return WireType::kFixed32;
      case Kind::kFixed64:
      case Kind::kSfixed64:
      case Kind::kDouble:
        return WireType::kFixed64;
      default:
        return WireType::kVarint;
    }
  }

  // The value of a numeric, bool or enum field without its tag.
  absl::Status ScalarPayload(const json::value& value, const FieldInfo& field, const PathNode* path) {
    switch (field.kind) {
      case Kind::kInt32: {
        int32_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Varint(static_cast<uint64_t>(static_cast<int64_t>(x)));
        return s;
      }
      case Kind::kInt64: {
        int64_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Varint(static_cast<uint64_t>(x));
        return s;
      }
      case Kind::kUint32: {
        uint32_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Varint(x);
        return s;
      }
      case Kind::kUint64: {
        uint64_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Varint(x);
        return s;
      }
      case Kind::kSint32: {
        int32_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Varint((static_cast<uint32_t>(x) << 1) ^ static_cast<uint32_t>(x >> 31));
        return s;
      }
      case Kind::kSint64: {
        int64_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Varint((static_cast<uint64_t>(x) << 1) ^ static_cast<uint64_t>(x >> 63));
        return s;
      }
      case Kind::kFixed32: {
        uint32_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Fixed32(x);
        return s;
      }
      case Kind::kSfixed32: {
        int32_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Fixed32(static_cast<uint32_t>(x));
        return s;
      }
      case Kind::kFixed64: {
        uint64_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Fixed64(x);
        return s;
      }
      case Kind::kSfixed64: {
        int64_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (s.ok()) w_.Fixed64(static_cast<uint64_t>(x));
        return s;
      }
      case Kind::kDouble: {
        double d = 0;
        absl::Status s = ReadDouble(value, path, &d);
        uint64_t bits = 0;
        std::memcpy(&bits, &d, sizeof bits);
        if (s.ok()) w_.Fixed64(bits);
        return s;
      }
      case Kind::kFloat: {
        double d = 0;
        absl::Status s = ReadDouble(value, path, &d);
        if (!s.ok()) return s;
        if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max()) {
          return Invalid(path, "number out of float range");
        }
        const float f = static_cast<float>(d);
        uint32_t bits = 0;
        std::memcpy(&bits, &f, sizeof bits);
        w_.Fixed32(bits);
        return absl::OkStatus();
      }
      case Kind::kBool:
        if (!value.is_bool()) return Invalid(path, "expected true or false");
        w_.Varint(value.get_bool() ? 1 : 0);
        return absl::OkStatus();
      case Kind::kEnum: {
        if (value.is_string()) {
          const std::string_view name = View(value.get_string());
          const EnumValueDescriptor* e = field.enum_type->FindValueByName(std::string(name));
          if (e != nullptr) {
            w_.Varint(static_cast<uint64_t>(static_cast<int64_t>(e->number())));
            return absl::OkStatus();
          }
        }
        int32_t x = 0;
        absl::Status s = ReadInteger(value, path, &x);
        if (!s.ok()) return Invalid(path, absl::StrCat("expected a ", field.enum_type->name(), " number or name"));
        w_.Varint(static_cast<uint64_t>(static_cast<int64_t>(x)));
        return absl::OkStatus();
      }
      default:
        // Strings, bytes and messages are never packed.
        return Invalid(path, "expected a number");
    }
  }

  WireWriter w_;
};

// Builds a json::value like json::parser does, except that doubles are
// re-read from their source text with std::from_chars: Boost 1.81's own
// conversion can be one unit in the last place off, which would change
// metric values in transit.
class PreciseHandler {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  PreciseHandler(unsigned char* temp, size_t temp_size) : stack_(json::storage_ptr(), temp, temp_size) {}

  json::value_stack& stack() { return stack_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(size_t n, json::error_code&) {
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(size_t n, json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view s, json::error_code&) {
    // "-0" is a negative zero for double fields; integer fields read it as 0.
    const bool negative_zero = i == 0 && (number_.empty() ? (!s.empty() && s[0] == '-') : number_[0] == '-');
    number_.clear();
    if (negative_zero) {
      stack_.push_double(-0.0);
    } else {
      stack_.push_int64(i);
    }
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    number_.clear();
    stack_.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    double precise = 0;
    const char* end = number_.data() + number_.size();
    auto [ptr, ec] = std::from_chars(number_.data(), end, precise);
    // Out of range (1e999) keeps Boost's reading (infinity or zero).
    if (ec == std::errc() && ptr == end) d = precise;
    number_.clear();
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  json::value_stack stack_;
  std::string number_;
};

absl::Status ParseJson(std::string_view text, json::value* out, json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  options.allow_invalid_utf8 = false;
  unsigned char temp[4096];
  json::basic_parser<PreciseHandler> parser(options, temp, sizeof temp);
  parser.handler().stack().reset(std::move(storage));
  json::error_code ec;
  const size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) ec = json::error::extra_data;
  if (ec) {
    if (ec == json::error::too_deep) {
      return absl::InvalidArgumentError(
          absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels (at offset ", consumed, ")"));
    }
    if (ec == json::error::syntax && consumed < text.size() &&
        static_cast<unsigned char>(text[consumed]) >= 0x80) {
      return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at offset ", consumed));
    }
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at offset ", consumed, ": ", ec.message()));
  }
  *out = parser.handler().stack().release();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> OtlpJsonToProto(Signal signal, std::string_view json_text) {
  try {
    const MessageInfo& root = OtlpJsonSchema(signal);
    unsigned char buffer[16384];
    json::monotonic_resource arena(buffer, sizeof buffer);
    // On the arena: the parsed value is moved in. A value on the default
    // resource would take it by a deep copy, allocating every node again.
    const json::storage_ptr storage(&arena);
    json::value document(storage);
    absl::Status parsed = ParseJson(json_text, &document, storage);
    if (!parsed.ok()) return parsed;
    if (!document.is_object()) return absl::InvalidArgumentError("expected a JSON object");
    std::string wire;
    wire.reserve(json_text.size() / 2);
    Converter converter(&wire);
    absl::Status converted = converter.Message(document.get_object(), root, nullptr, 1);
    if (!converted.ok()) return converted;
    return wire;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory converting OTLP/JSON");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("OTLP/JSON conversion failed: ", e.what()));
  }
}

std::string ExportResponseJson(Signal signal, int64_t rejected_items, std::string_view message) {
  if (rejected_items == 0 && message.empty()) return "{}";
  std::string_view rejected_key = "rejectedSpans";
  if (signal == Signal::kMetrics) rejected_key = "rejectedDataPoints";
  if (signal == Signal::kLogs) rejected_key = "rejectedLogRecords";
  std::string out = absl::StrCat("{\"partialSuccess\":{\"", ToAbsl(rejected_key), "\":\"", rejected_items, "\"");
  if (!message.empty()) {
    out.append(",\"errorMessage\":");
    out.append(json::serialize(json::string_view(message.data(), message.size())));
  }
  out.append("}}");
  return out;
}

}  // namespace gateway
