#include "pipeline/otlp/gzip.h"

#include <zlib.h>

#include <random>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string ZlibCompress(std::string_view data, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = data.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(GzipTest, RoundTripsEmptySmallAndLargeInputs) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, size_t{3} << 20}) {
    std::string data = RandomBytes(size, static_cast<uint32_t>(size));
    std::string packed = GzipCompress(data, 6);
    ASSERT_GE(packed.size(), 18u);
    EXPECT_EQ(static_cast<uint8_t>(packed[0]), 0x1f);
    EXPECT_EQ(static_cast<uint8_t>(packed[1]), 0x8b);
    auto unpacked = GzipDecompress(packed, size_t{4} << 20);
    ASSERT_TRUE(unpacked.ok()) << unpacked.status();
    EXPECT_EQ(*unpacked, data);
  }
}

TEST(GzipTest, FastCompressorRoundTripsThroughZlib) {
  // Empty, tiny, incompressible (stored blocks), compressible, and several
  // calls on one thread reusing the compressor state.
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, size_t{70000}, size_t{5} << 20}) {
    for (bool random : {true, false}) {
      std::string data = random ? RandomBytes(size, static_cast<uint32_t>(size)) : std::string(size, 'q');
      std::string packed = GzipCompressFast(data);
      ASSERT_GE(packed.size(), 18u) << size;
      EXPECT_EQ(static_cast<uint8_t>(packed[0]), 0x1f);
      EXPECT_EQ(static_cast<uint8_t>(packed[1]), 0x8b);
      if (!random && size > 1000) {
        EXPECT_LT(packed.size(), size / 50) << size;
      }
      auto unpacked = GzipDecompress(packed, size_t{8} << 20);
      ASSERT_TRUE(unpacked.ok()) << size << " " << unpacked.status();
      EXPECT_EQ(*unpacked, data);
    }
  }
}

TEST(GzipTest, FastCompressorResultHoldsOnlyTheCompressedBytes) {
  // Export bodies wait in the exporter's queue compressed: a result that kept
  // the uncompressed size as capacity would cost 3x the memory it accounts.
  std::string data(4 << 20, 'z');
  std::string packed = GzipCompressFast(data);
  EXPECT_LT(packed.size(), data.size() / 100);
  EXPECT_LE(packed.capacity(), packed.size() + 16);
}

TEST(GzipTest, EveryLevelRoundTrips) {
  std::string data(100000, 'a');
  for (int level = -1; level <= 9; ++level) {
    auto unpacked = GzipDecompress(GzipCompress(data, level), data.size());
    ASSERT_TRUE(unpacked.ok()) << level;
    EXPECT_EQ(*unpacked, data);
  }
}

TEST(GzipTest, OutputExactlyAtTheLimitIsAccepted) {
  std::string data(65536, 'x');
  auto unpacked = GzipDecompress(GzipCompress(data, 9), data.size());
  ASSERT_TRUE(unpacked.ok()) << unpacked.status();
  EXPECT_EQ(unpacked->size(), data.size());
}

TEST(GzipTest, OneByteOverTheLimitIsResourceExhausted) {
  std::string data(65537, 'x');
  auto unpacked = GzipDecompress(GzipCompress(data, 9), 65536);
  EXPECT_TRUE(absl::IsResourceExhausted(unpacked.status())) << unpacked.status();
}

TEST(GzipTest, BombStopsAtTheLimitWithoutInflatingEverything) {
  // 256 MiB of zeros compresses to about 256 KiB; it must be refused after
  // inflating no more than the limit.
  const size_t kHuge = size_t{256} << 20;
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string zeros(1 << 20, '\0');
  std::string bomb;
  std::string chunk(1 << 16, '\0');
  for (size_t fed = 0; fed < kHuge; fed += zeros.size()) {
    zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
    zs.avail_in = zeros.size();
    int flush = fed + zeros.size() >= kHuge ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
      zs.avail_out = chunk.size();
      deflate(&zs, flush);
      bomb.append(chunk.data(), chunk.size() - zs.avail_out);
    } while (zs.avail_out == 0);
  }
  deflateEnd(&zs);
  ASSERT_LT(bomb.size(), size_t{2} << 20);

  auto unpacked = GzipDecompress(bomb, size_t{4} << 20);
  EXPECT_TRUE(absl::IsResourceExhausted(unpacked.status())) << unpacked.status();
}

TEST(GzipTest, ConcatenatedMembersAreJoined) {
  std::string packed = GzipCompress("hello, ", 6) + GzipCompress("world", 6);
  auto unpacked = GzipDecompress(packed, 100);
  ASSERT_TRUE(unpacked.ok()) << unpacked.status();
  EXPECT_EQ(*unpacked, "hello, world");
}

TEST(GzipTest, CorruptTruncatedAndTrailingInputsAreInvalid) {
  std::string packed = GzipCompress(RandomBytes(10000, 7), 6);
  EXPECT_TRUE(absl::IsInvalidArgument(GzipDecompress(packed.substr(0, packed.size() / 2), 1 << 20).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(GzipDecompress("not gzip at all", 1 << 20).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(GzipDecompress("", 1 << 20).status()));
  std::string flipped = packed;
  flipped[flipped.size() - 5] ^= 0x55;  // CRC32 / length trailer
  EXPECT_TRUE(absl::IsInvalidArgument(GzipDecompress(flipped, 1 << 20).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(GzipDecompress(packed + "xyz", 1 << 20).status()));
}

TEST(GzipTest, DeflateAcceptsZlibAndRawStreams) {
  std::string data = "the quick brown fox jumps over the lazy dog, again and again and again";
  auto from_zlib = DeflateDecompress(ZlibCompress(data, 15), 1000);
  ASSERT_TRUE(from_zlib.ok()) << from_zlib.status();
  EXPECT_EQ(*from_zlib, data);
  auto from_raw = DeflateDecompress(ZlibCompress(data, -15), 1000);
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  EXPECT_EQ(*from_raw, data);
  EXPECT_TRUE(absl::IsResourceExhausted(DeflateDecompress(ZlibCompress(data, 15), 10).status()));
}

}  // namespace
}  // namespace gateway
