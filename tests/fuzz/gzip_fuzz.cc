// Fuzzes the bounded gzip / deflate decoders: whatever the input, they return
// (never crash), and a success never exceeds the output limit. A successful
// gzip decode round-trips through GzipCompress.
//
// Input: byte 0 picks the limit (0 .. 255 KiB in 1 KiB steps, plus 1 byte so
// tiny limits are covered); byte 1 picks gzip or deflate; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pipeline/otlp/gzip.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t limit = size_t{data[0]} * 1024 + 1;
  const bool deflate = (data[1] & 1) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  absl::StatusOr<std::string> out =
      deflate ? gateway::DeflateDecompress(body, limit) : gateway::GzipDecompress(body, limit);
  if (!out.ok()) {
    FUZZ_CHECK(absl::IsResourceExhausted(out.status()) || absl::IsInvalidArgument(out.status()),
               "unexpected error code");
    return 0;
  }
  FUZZ_CHECK(out->size() <= limit, "output passed the limit");

  // What we inflate, we can deflate and inflate again to the same bytes.
  const std::string packed = gateway::GzipCompress(*out, 1);
  absl::StatusOr<std::string> again = gateway::GzipDecompress(packed, limit);
  FUZZ_CHECK(again.ok(), "GzipCompress output does not decompress");
  FUZZ_CHECK(*again == *out, "round trip changed the bytes");
  absl::StatusOr<std::string> fast = gateway::GzipDecompress(gateway::GzipCompressFast(*out), limit);
  FUZZ_CHECK(fast.ok(), "GzipCompressFast output does not decompress");
  FUZZ_CHECK(*fast == *out, "GzipCompressFast round trip changed the bytes");
  return 0;
}
