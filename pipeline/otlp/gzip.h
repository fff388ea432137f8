// gzip and zlib (HTTP "deflate") codecs over zlib, for request bodies and
// export payloads.
//
//   absl::StatusOr<std::string> body = GzipDecompress(wire, /*max_output=*/4 << 20);
//   if (absl::IsResourceExhausted(body.status())) return PayloadTooLarge();
//   std::string packed = GzipCompress(body_bytes, /*level=*/6);
//   std::string export_body = GzipCompressFast(body_bytes);
//
// Decompression stops as soon as the output would pass `max_output`: a
// compression bomb costs at most max_output bytes of memory and the CPU to
// inflate that much, never the whole stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gateway {

// Inflates a gzip stream (RFC 1952; concatenated members are joined, as
// `gunzip` does). Also accepts a zlib stream (header auto-detection).
// ResourceExhausted if the output would exceed `max_output` bytes;
// InvalidArgument if the input is corrupt, truncated or has trailing garbage.
absl::StatusOr<std::string> GzipDecompress(std::string_view compressed, size_t max_output);

// Inflates an HTTP "Content-Encoding: deflate" body: a zlib stream (RFC 1950)
// or, as some clients send, a raw deflate stream (RFC 1951). Same errors as
// GzipDecompress.
absl::StatusOr<std::string> DeflateDecompress(std::string_view compressed, size_t max_output);

// Compresses `data` as one gzip member. `level` is zlib's 0 (store) .. 9
// (best); -1 is zlib's default (6). Thread-safe; allocates the output only.
std::string GzipCompress(std::string_view data, int level);

// Compresses `data` as one gzip member with ISA-L's igzip at its level 1:
// about 4x the speed of zlib's level 1 at a slightly better ratio
// (bench/gzip_benchmark). For the exporter's hot path. Thread-safe; keeps a
// ~360 KiB compressor state and an output scratch buffer (at most 16 MiB)
// per calling thread, reused across calls. The result's capacity is its size.
// Empty only if igzip reports an error, which these parameters never cause.
std::string GzipCompressFast(std::string_view data);

}  // namespace gateway
