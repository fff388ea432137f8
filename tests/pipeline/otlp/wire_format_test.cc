#include "pipeline/otlp/wire_format.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace gateway {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

TEST(WireFormatTest, VarintRoundTripsAcrossSizes) {
  for (uint64_t value : {0ull, 1ull, 127ull, 128ull, 300ull, 16383ull, 16384ull, (1ull << 32) - 1, 1ull << 35,
                         ~0ull}) {
    std::string out;
    AppendVarint(&out, value);
    EXPECT_EQ(out.size(), VarintSize(value));
    WireReader reader(out);
    uint64_t read = 0;
    ASSERT_TRUE(reader.ReadVarint(&read));
    EXPECT_EQ(read, value);
    EXPECT_TRUE(reader.done());
  }
}

TEST(WireFormatTest, VarintOfTenBytesIsAcceptedElevenRejected) {
  std::string ten = Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  uint64_t value = 0;
  WireReader ok(ten);
  EXPECT_TRUE(ok.ReadVarint(&value));
  EXPECT_EQ(value, ~0ull);
  std::string eleven = Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01});
  WireReader bad(eleven);
  EXPECT_FALSE(bad.ReadVarint(&value));
}

TEST(WireFormatTest, TruncatedVarintIsRejected) {
  std::string truncated = Bytes({0x80, 0x80});
  WireReader reader(truncated);
  uint64_t value = 0;
  EXPECT_FALSE(reader.ReadVarint(&value));
  WireReader empty{std::string_view()};
  EXPECT_FALSE(empty.ReadVarint(&value));
}

TEST(WireFormatTest, FixedValuesAreLittleEndian) {
  std::string out;
  AppendFixed32(&out, 0x01020304u);
  AppendFixed64(&out, 0x0102030405060708ull);
  EXPECT_EQ(out.substr(0, 4), Bytes({4, 3, 2, 1}));
  WireReader reader(out);
  uint32_t v32 = 0;
  uint64_t v64 = 0;
  ASSERT_TRUE(reader.ReadFixed32(&v32));
  ASSERT_TRUE(reader.ReadFixed64(&v64));
  EXPECT_EQ(v32, 0x01020304u);
  EXPECT_EQ(v64, 0x0102030405060708ull);
}

TEST(WireFormatTest, TruncatedFixedIsRejected) {
  std::string three = Bytes({1, 2, 3});
  WireReader reader(three);
  uint32_t v32 = 0;
  EXPECT_FALSE(reader.ReadFixed32(&v32));
  std::string seven = Bytes({1, 2, 3, 4, 5, 6, 7});
  WireReader reader64(seven);
  uint64_t v64 = 0;
  EXPECT_FALSE(reader64.ReadFixed64(&v64));
}

TEST(WireFormatTest, LengthDelimitedFieldRoundTrips) {
  std::string out;
  AppendLengthDelimited(&out, 13, "hello");
  EXPECT_EQ(out.size(), LengthDelimitedSize(13, 5));
  WireReader reader(out);
  WireField field;
  ASSERT_TRUE(reader.ReadField(&field));
  EXPECT_EQ(field.number, 13u);
  EXPECT_EQ(field.type, WireType::kLengthDelimited);
  EXPECT_EQ(field.bytes, "hello");
  EXPECT_EQ(field.begin, 0u);
  EXPECT_EQ(field.end, out.size());
  EXPECT_TRUE(reader.done());
}

TEST(WireFormatTest, LengthPastTheEndIsRejected) {
  std::string out = Bytes({0x0a, 0x05, 'a', 'b'});
  WireReader reader(out);
  WireField field;
  EXPECT_FALSE(reader.ReadField(&field));
}

TEST(WireFormatTest, HugeOrOverlongLengthIsRejected) {
  WireField field;
  // 2^31: libprotobuf refuses lengths of 2 GiB and more.
  std::string two_gib = Bytes({0x0a, 0x80, 0x80, 0x80, 0x80, 0x08});
  WireReader a(two_gib);
  EXPECT_FALSE(a.ReadField(&field));
  // A length that would be negative as int32.
  std::string negative = Bytes({0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f});
  WireReader b(negative);
  EXPECT_FALSE(b.ReadField(&field));
  // Length 0 spelled in six bytes.
  std::string overlong = Bytes({0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  WireReader c(overlong);
  EXPECT_FALSE(c.ReadField(&field));
}

TEST(WireFormatTest, GroupsAndReservedWireTypesAreRejected) {
  WireField field;
  for (int wire_type : {3, 4, 6, 7}) {
    std::string tag = Bytes({(1 << 3) | wire_type, 0});
    WireReader reader(tag);
    EXPECT_FALSE(reader.ReadField(&field)) << wire_type;
  }
}

TEST(WireFormatTest, FieldNumberZeroIsRejected) {
  std::string zero = Bytes({0x00, 0x01});
  WireReader reader(zero);
  WireField field;
  EXPECT_FALSE(reader.ReadField(&field));
}

TEST(WireFormatTest, TagLongerThanFiveBytesIsRejected) {
  std::string tag = Bytes({0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00});
  WireReader reader(tag);
  WireField field;
  EXPECT_FALSE(reader.ReadField(&field));
}

TEST(WireFormatTest, MultiByteTagsDecodeFieldNumber) {
  std::string out;
  AppendTag(&out, 16, WireType::kFixed32);
  AppendFixed32(&out, 0x301);
  EXPECT_EQ(out.size(), 2u + 4u);
  EXPECT_EQ(TagSize(16), 2u);
  WireReader reader(out);
  WireField field;
  ASSERT_TRUE(reader.ReadField(&field));
  EXPECT_EQ(field.number, 16u);
  EXPECT_EQ(field.type, WireType::kFixed32);
  EXPECT_EQ(field.scalar, 0x301u);
}

TEST(WireFormatTest, PointerWritersMatchAppenders) {
  std::string appended;
  AppendLengthDelimited(&appended, 300, std::string(200, 'x'));
  std::string written(LengthDelimitedSize(300, 200), '\0');
  char* end = WriteLengthDelimited(written.data(), 300, std::string(200, 'x'));
  EXPECT_EQ(end, written.data() + written.size());
  EXPECT_EQ(appended, written);
}

}  // namespace
}  // namespace gateway
