#include "pipeline/gzip_compress.h"

#include <string>

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(GzipCompressTest, RoundTripsAndWritesAGzipHeader) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>('a' + i % 7);
  absl::StatusOr<std::string> gz = GzipCompress(data, 1);
  ASSERT_TRUE(gz.ok()) << gz.status();
  ASSERT_GE(gz->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
  EXPECT_LT(gz->size(), data.size() / 10);
  absl::StatusOr<std::string> plain = GzipDecompress(*gz, data.size());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, data);
}

TEST(GzipCompressTest, RoundTripsEmptyInput) {
  absl::StatusOr<std::string> gz = GzipCompress("");
  ASSERT_TRUE(gz.ok());
  absl::StatusOr<std::string> plain = GzipDecompress(*gz, 10);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, "");
}

TEST(GzipCompressTest, RefusesCorruptTruncatedAndOversizedInput) {
  const std::string data(10000, 'z');
  std::string gz = *GzipCompress(data);
  EXPECT_EQ(GzipDecompress("not gzip at all", 100).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(gz.substr(0, gz.size() / 2), 100000).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(gz, 9999).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(GzipDecompress(gz, 10000).ok());
}

}  // namespace
}  // namespace gateway
