#include "pipeline/otlp/gzip.h"

#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"

namespace gateway {
namespace {

// zlib's windowBits: 15 is the largest window; +16 selects gzip only, +32
// auto-detects gzip or zlib; negative means raw deflate.
constexpr int kWindowAutoDetect = 15 + 32;
constexpr int kWindowZlib = 15;
constexpr int kWindowRaw = -15;
constexpr int kWindowGzip = 15 + 16;

// zlib's avail_in/avail_out are 32-bit.
constexpr size_t kMaxChunk = UINT_MAX;

class Inflater {
 public:
  explicit Inflater(int window_bits) { ok_ = inflateInit2(&zs_, window_bits) == Z_OK; }
  ~Inflater() {
    if (ok_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  bool ok() const { return ok_; }
  z_stream* stream() { return &zs_; }

 private:
  z_stream zs_{};
  bool ok_ = false;
};

absl::StatusOr<std::string> Inflate(std::string_view in, size_t max_output, int window_bits,
                                    bool allow_members) {
  Inflater inflater(window_bits);
  if (!inflater.ok()) return absl::InternalError("inflateInit2 failed");
  z_stream* zs = inflater.stream();

  std::string out;
  // Guess a ratio of 4, capped by the limit; grow geometrically after that.
  out.resize(std::min(max_output, std::max<size_t>(in.size() * 4, 256)));
  size_t produced = 0;
  const auto* next_in = reinterpret_cast<const Bytef*>(in.data());
  size_t remaining_in = in.size();

  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_output) {
        // Output is full at the limit; one more byte of output means too big.
        // Probe with a one-byte buffer so that the stream end is still
        // recognised when the data is exactly max_output bytes.
        Bytef probe;
        zs->next_out = &probe;
        zs->avail_out = 1;
        zs->next_in = const_cast<Bytef*>(next_in);
        zs->avail_in = static_cast<uInt>(std::min(remaining_in, kMaxChunk));
        const uInt before_in = zs->avail_in;
        int rc = inflate(zs, Z_NO_FLUSH);
        next_in += before_in - zs->avail_in;
        remaining_in -= before_in - zs->avail_in;
        if (zs->avail_out == 0) {
          return absl::ResourceExhaustedError("decompressed body exceeds the size limit");
        }
        if (rc == Z_STREAM_END) {
          if (allow_members && remaining_in > 0) {
            if (inflateReset(zs) != Z_OK) return absl::InternalError("inflateReset failed");
            continue;
          }
          break;
        }
        if (rc == Z_BUF_ERROR && remaining_in == 0) {
          return absl::InvalidArgumentError("compressed body is truncated");
        }
        if (rc != Z_OK) return absl::InvalidArgumentError("compressed body is corrupt");
        continue;
      }
      out.resize(std::min(max_output, std::max<size_t>(out.size() * 2, 256)));
    }
    zs->next_in = const_cast<Bytef*>(next_in);
    zs->avail_in = static_cast<uInt>(std::min(remaining_in, kMaxChunk));
    zs->next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs->avail_out = static_cast<uInt>(std::min(out.size() - produced, kMaxChunk));
    const uInt before_in = zs->avail_in;
    const uInt before_out = zs->avail_out;
    int rc = inflate(zs, Z_NO_FLUSH);
    next_in += before_in - zs->avail_in;
    remaining_in -= before_in - zs->avail_in;
    produced += before_out - zs->avail_out;
    if (rc == Z_STREAM_END) {
      if (allow_members && remaining_in > 0) {
        if (inflateReset(zs) != Z_OK) return absl::InternalError("inflateReset failed");
        continue;
      }
      break;
    }
    if (rc == Z_BUF_ERROR) {
      // No progress possible: either out of output space (loop grows it) or
      // out of input before the end of the stream.
      if (zs->avail_out == 0) continue;
      return absl::InvalidArgumentError("compressed body is truncated");
    }
    if (rc != Z_OK) return absl::InvalidArgumentError("compressed body is corrupt");
    if (remaining_in == 0 && zs->avail_out > 0) {
      return absl::InvalidArgumentError("compressed body is truncated");
    }
  }
  if (remaining_in != 0) {
    return absl::InvalidArgumentError("trailing bytes after the compressed stream");
  }
  out.resize(produced);
  return out;
}

}  // namespace

absl::StatusOr<std::string> GzipDecompress(std::string_view compressed, size_t max_output) {
  return Inflate(compressed, max_output, kWindowAutoDetect, /*allow_members=*/true);
}

absl::StatusOr<std::string> DeflateDecompress(std::string_view compressed, size_t max_output) {
  // A zlib stream starts with CMF/FLG where (CMF*256 + FLG) % 31 == 0 and
  // CM == 8; otherwise treat it as raw deflate.
  bool zlib_header = compressed.size() >= 2 && (static_cast<uint8_t>(compressed[0]) & 0x0f) == 8 &&
                     ((static_cast<uint8_t>(compressed[0]) << 8) | static_cast<uint8_t>(compressed[1])) % 31 == 0;
  return Inflate(compressed, max_output, zlib_header ? kWindowZlib : kWindowRaw, /*allow_members=*/false);
}

std::string GzipCompress(std::string_view data, int level) {
  z_stream zs{};
  if (level < -1 || level > 9) level = Z_DEFAULT_COMPRESSION;
  if (deflateInit2(&zs, level, Z_DEFLATED, kWindowGzip, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  const auto* next_in = reinterpret_cast<const Bytef*>(data.data());
  size_t remaining_in = data.size();
  size_t produced = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_in = const_cast<Bytef*>(next_in);
    zs.avail_in = static_cast<uInt>(std::min(remaining_in, kMaxChunk));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(std::min(out.size() - produced, kMaxChunk));
    const uInt before_in = zs.avail_in;
    const uInt before_out = zs.avail_out;
    const bool last_chunk = zs.avail_in == remaining_in;
    rc = deflate(&zs, last_chunk ? Z_FINISH : Z_NO_FLUSH);
    next_in += before_in - zs.avail_in;
    remaining_in -= before_in - zs.avail_in;
    produced += before_out - zs.avail_out;
    if (rc == Z_STREAM_ERROR) break;
  }
  deflateEnd(&zs);
  out.resize(produced);
  out.shrink_to_fit();
  return out;
}

namespace {

// igzip's stream (~80 KiB), its level-1 hash buffer (~276 KiB) and an output
// scratch buffer, allocated once per thread and reused: allocating them per
// call would cost more than compressing a typical export body (page faults
// on fresh memory), and the returned string is then exactly as large as the
// compressed bytes instead of carrying the uncompressed size as capacity.
struct IgzipState {
  isal_zstream stream;
  uint8_t level_buf[ISAL_DEF_LVL1_DEFAULT];
  std::string scratch;
};

}  // namespace

std::string GzipCompressFast(std::string_view data) {
  thread_local std::unique_ptr<IgzipState> state;
  if (!state) state = std::make_unique<IgzipState>();
  isal_zstream& zs = state->stream;
  isal_deflate_init(&zs);
  zs.gzip_flag = IGZIP_GZIP;
  zs.level = 1;
  zs.level_buf = state->level_buf;
  zs.level_buf_size = sizeof(state->level_buf);
  zs.flush = NO_FLUSH;
  zs.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uint32_t>(std::min(data.size(), size_t{UINT32_MAX}));
  size_t remaining_in = data.size() - zs.avail_in;
  zs.end_of_stream = remaining_in == 0;
  // Stored blocks cost 5 bytes per 64 KiB, so incompressible input fits in
  // one pass; compressible input leaves room to spare.
  std::string& out = state->scratch;
  const size_t bound = data.size() + data.size() / 16 + ISAL_DEF_MAX_HDR_SIZE + 64;
  if (out.size() < bound) out.resize(bound);
  size_t produced = 0;
  while (zs.internal_state.state != ZSTATE_END) {
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<uint8_t*>(out.data() + produced);
    zs.avail_out = static_cast<uint32_t>(std::min(out.size() - produced, size_t{UINT32_MAX}));
    const uint32_t before_out = zs.avail_out;
    if (isal_deflate(&zs) != COMP_OK) return {};
    produced += before_out - zs.avail_out;
    if (zs.avail_in == 0 && remaining_in > 0) {
      const size_t chunk = std::min(remaining_in, size_t{UINT32_MAX});
      zs.avail_in = static_cast<uint32_t>(chunk);
      remaining_in -= chunk;
      zs.end_of_stream = remaining_in == 0;
    }
  }
  std::string packed(out.data(), produced);
  // One unusually large body must not pin its scratch for the thread's life.
  if (out.size() > (size_t{16} << 20)) std::string().swap(out);
  return packed;
}

}  // namespace gateway
