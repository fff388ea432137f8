// Protobuf wire-format primitives: a bounds-checked reader over a byte view
// and appending writers. No allocation, no protobuf runtime.
//
//   WireReader reader(message);
//   WireField field;
//   while (!reader.done()) {
//     if (!reader.ReadField(&field)) return Invalid();   // malformed
//     if (field.number == 1 && field.type == WireType::kLengthDelimited) ...
//   }
//
//   std::string out;
//   AppendLengthDelimited(&out, 1, payload);   // tag, length, bytes
//
// Reader rules follow libprotobuf's parser: tags are at most 5 bytes, field
// number 0 is invalid, lengths are at most 5 bytes and below 2 GiB, varints
// are at most 10 bytes. Groups (wire types 3 and 4) and wire types 6 and 7
// are rejected: OTLP never uses groups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gateway {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// One field as read by WireReader::ReadField.
struct WireField {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  // Value of varint, fixed32 and fixed64 fields.
  uint64_t scalar = 0;
  // Value bytes of length-delimited fields (without tag and length).
  std::string_view bytes;
  // Offset of the tag, and of the first byte after the field, in the
  // reader's data.
  size_t begin = 0;
  size_t end = 0;
};

// Reads fields from a view it does not own. Every method returns false on
// malformed or truncated input and then leaves the position unspecified; the
// caller stops reading.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool done() const { return pos_ >= data_.size(); }
  size_t position() const { return pos_; }
  std::string_view data() const { return data_; }

  // A varint of at most 10 bytes; bits past 64 are dropped, as libprotobuf does.
  bool ReadVarint(uint64_t* value) {
    const size_t size = data_.size();
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data());
    if (pos_ < size && p[pos_] < 0x80) {
      *value = p[pos_++];
      return true;
    }
    uint64_t result = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= size) return false;
      const uint8_t byte = p[pos_++];
      result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) {
        *value = result;
        return true;
      }
    }
    return false;
  }

  bool ReadFixed32(uint32_t* value) {
    if (data_.size() - pos_ < 4) return false;
    uint32_t v;
    std::memcpy(&v, data_.data() + pos_, 4);
    *value = FromLittleEndian32(v);
    pos_ += 4;
    return true;
  }

  bool ReadFixed64(uint64_t* value) {
    if (data_.size() - pos_ < 8) return false;
    uint64_t v;
    std::memcpy(&v, data_.data() + pos_, 8);
    *value = FromLittleEndian64(v);
    pos_ += 8;
    return true;
  }

  // A length prefix (at most 5 bytes, below 2 GiB) and that many bytes.
  bool ReadLengthDelimited(std::string_view* bytes) {
    uint32_t length = 0;
    if (!ReadLength(&length)) return false;
    if (data_.size() - pos_ < length) return false;
    *bytes = data_.substr(pos_, length);
    pos_ += length;
    return true;
  }

  // A tag with a non-zero field number and wire type 0, 1, 2 or 5.
  bool ReadTag(uint32_t* number, WireType* type) {
    const size_t size = data_.size();
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data());
    uint32_t tag = 0;
    if (pos_ < size && p[pos_] < 0x80) {
      tag = p[pos_++];
    } else {
      bool finished = false;
      for (int i = 0; i < 5; ++i) {
        if (pos_ >= size) return false;
        const uint8_t byte = p[pos_++];
        tag |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
        if (byte < 0x80) {
          finished = true;
          break;
        }
      }
      if (!finished) return false;
    }
    const uint32_t wire_type = tag & 7;
    *number = tag >> 3;
    if (*number == 0) return false;
    if (wire_type != 0 && wire_type != 1 && wire_type != 2 && wire_type != 5) return false;
    *type = static_cast<WireType>(wire_type);
    return true;
  }

  // Reads one whole field: tag and value.
  bool ReadField(WireField* field) {
    field->begin = pos_;
    if (!ReadTag(&field->number, &field->type)) return false;
    bool ok = false;
    switch (field->type) {
      case WireType::kVarint:
        ok = ReadVarint(&field->scalar);
        break;
      case WireType::kFixed64:
        ok = ReadFixed64(&field->scalar);
        break;
      case WireType::kLengthDelimited:
        ok = ReadLengthDelimited(&field->bytes);
        break;
      case WireType::kFixed32: {
        uint32_t v = 0;
        ok = ReadFixed32(&v);
        field->scalar = v;
        break;
      }
      default:
        return false;
    }
    field->end = pos_;
    return ok;
  }

 private:
  bool ReadLength(uint32_t* length) {
    const size_t size = data_.size();
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data());
    uint32_t result = 0;
    for (int i = 0; i < 5; ++i) {
      if (pos_ >= size) return false;
      const uint8_t byte = p[pos_++];
      if (i == 4) {
        // libprotobuf refuses lengths of 2 GiB and more.
        if (byte >= 8) return false;
        result |= static_cast<uint32_t>(byte) << 28;
        *length = result;
        return true;
      }
      result |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) {
        *length = result;
        return true;
      }
    }
    return false;
  }

  static uint32_t FromLittleEndian32(uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
  }
  static uint64_t FromLittleEndian64(uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
  }

  std::string_view data_;
  size_t pos_ = 0;
};

// Bytes a varint encoding of `value` takes (1 to 10).
constexpr size_t VarintSize(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

constexpr uint32_t MakeTag(uint32_t number, WireType type) {
  return (number << 3) | static_cast<uint32_t>(type);
}

// Bytes of a tag for `number` (any wire type).
constexpr size_t TagSize(uint32_t number) { return VarintSize(static_cast<uint64_t>(number) << 3); }

// Bytes of a whole length-delimited field with a value of `length` bytes.
constexpr size_t LengthDelimitedSize(uint32_t number, size_t length) {
  return TagSize(number) + VarintSize(length) + length;
}

// The length prefix of a length-delimited field in the encoding OTLP
// writers use for values below 16 KiB: one or two bytes. Reads it at *p
// (before `end`), checks that the value fits before `end`, and sets *p to
// the value and *length to its size. False for a longer or truncated prefix
// or a value past `end` (*p unchanged); the fast paths that use it fall
// back to the general reader.
inline bool ReadShortLength(const uint8_t** p, const uint8_t* end, size_t* length) {
  const uint8_t* q = *p;
  if (q == end) return false;
  size_t n = *q++;
  if (n >= 0x80) {
    if (q == end || *q >= 0x80) return false;
    n = (n & 0x7f) | (static_cast<size_t>(*q++) << 7);
  }
  if (static_cast<size_t>(end - q) < n) return false;
  *p = q;
  *length = n;
  return true;
}

// Steps *p over a varint exactly as WireReader::ReadVarint accepts one (at
// most 10 bytes). False when none ends before `end` (*p unchanged).
inline bool SkipVarint(const uint8_t** p, const uint8_t* end) {
  const uint8_t* q = *p;
  for (int i = 0; i < 10; ++i) {
    if (q == end) return false;
    if (*q++ < 0x80) {
      *p = q;
      return true;
    }
  }
  return false;
}

// Writes a varint at `p`, returns the byte after it. The caller reserved
// VarintSize(value) bytes.
inline char* WriteVarint(char* p, uint64_t value) {
  while (value >= 0x80) {
    *p++ = static_cast<char>(static_cast<uint8_t>(value) | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<char>(value);
  return p;
}

inline char* WriteTag(char* p, uint32_t number, WireType type) { return WriteVarint(p, MakeTag(number, type)); }

inline char* WriteBytes(char* p, std::string_view bytes) {
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

inline char* WriteLengthDelimited(char* p, uint32_t number, std::string_view bytes) {
  p = WriteTag(p, number, WireType::kLengthDelimited);
  p = WriteVarint(p, bytes.size());
  return WriteBytes(p, bytes);
}

inline void AppendVarint(std::string* out, uint64_t value) {
  char buf[10];
  char* end = WriteVarint(buf, value);
  out->append(buf, static_cast<size_t>(end - buf));
}

inline void AppendTag(std::string* out, uint32_t number, WireType type) { AppendVarint(out, MakeTag(number, type)); }

// Tag, length and bytes.
inline void AppendLengthDelimited(std::string* out, uint32_t number, std::string_view bytes) {
  AppendTag(out, number, WireType::kLengthDelimited);
  AppendVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// Little-endian value only (write the tag first).
inline void AppendFixed32(std::string* out, uint32_t value) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  out->append(buf, 4);
}

inline void AppendFixed64(std::string* out, uint64_t value) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  out->append(buf, 8);
}

}  // namespace gateway
