#include "pipeline/gzip_compress.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

// windowBits 15 + 16 asks zlib for a gzip header and trailer; + 32 on inflate
// accepts gzip or zlib headers.
constexpr int kGzipWindowBits = 15 + 16;
constexpr int kAutoDetectWindowBits = 15 + 32;
constexpr size_t kChunk = 64 * 1024;

}  // namespace

absl::StatusOr<std::string> GzipCompress(std::string_view data, int level) {
  z_stream stream{};
  if (deflateInit2(&stream, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&stream, static_cast<uLong>(data.size())) + 32);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&stream, Z_FINISH);
  const size_t written = stream.total_out;
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("deflate failed: ", rc));
  out.resize(written);
  return out;
}

absl::StatusOr<std::string> GzipDecompress(std::string_view data, size_t max_output) {
  z_stream stream{};
  if (inflateInit2(&stream, kAutoDetectWindowBits) != Z_OK) {
    return absl::InternalError("inflateInit2 failed");
  }
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const size_t before = out.size();
    if (before >= max_output + 1) {
      inflateEnd(&stream);
      return absl::ResourceExhaustedError("gzip body too large");
    }
    const size_t grow = std::min(kChunk, max_output + 1 - before);
    out.resize(before + grow);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(grow);
    rc = inflate(&stream, Z_NO_FLUSH);
    out.resize(before + grow - stream.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && stream.avail_in > 0)) {
      inflateEnd(&stream);
      return absl::InvalidArgumentError(absl::StrCat("corrupt gzip body (zlib ", rc, ")"));
    }
    if (stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      return absl::InvalidArgumentError("truncated gzip body");
    }
  }
  inflateEnd(&stream);
  if (out.size() > max_output) return absl::ResourceExhaustedError("gzip body too large");
  return out;
}

}  // namespace gateway
