// Gzip (RFC 1952) compression and decompression with zlib, for OTLP/HTTP
// bodies sent with `Content-Encoding: gzip`.
//
//   absl::StatusOr<std::string> gz = GzipCompress(body);
//   absl::StatusOr<std::string> plain = GzipDecompress(*gz, 64 << 20);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gateway {

// Compresses `data` into a single gzip member. `level` is zlib's 0..9 (6 is
// zlib's default; 1 is much faster and nearly as small for protobuf).
absl::StatusOr<std::string> GzipCompress(std::string_view data, int level = 6);

// Decompresses a gzip (or zlib) stream. Fails with InvalidArgument on corrupt
// input and ResourceExhausted when the output would exceed `max_output`.
absl::StatusOr<std::string> GzipDecompress(std::string_view data, size_t max_output);

}  // namespace gateway
