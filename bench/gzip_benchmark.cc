// gzip of an export body: zlib against libdeflate (and ISA-L's igzip, for
// reference) at their fastest levels, on the same bytes in one run.
//
// The body is a 1000-span trace request from bench/request_generator whose
// padding attribute is overwritten with words, so it compresses like real
// attribute text (URLs, SQL, ids) rather than like a run of one letter.
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "benchmark/benchmark.h"
#include "bench/request_generator.h"
#include "isa-l/igzip_lib.h"
#include "libdeflate.h"
#include "zlib.h"

namespace gateway {
namespace {

std::string MakeBody() {
  TraceRequestShape shape;
  shape.spans = 1000;
  shape.span_bytes = 400;
  shape.consumer_fraction = 0.2;
  std::string body = MakeTraceRequest(shape, 7);
  static constexpr std::string_view kWords[] = {
      "GET ",     "/api/v2/", "orders/",  "SELECT ",  "FROM ",    "WHERE ",   "id=",
      "customer", "payment",  "queue-",   "sqs ",     "https://", "service.", "internal",
      "user_",    "region",   "eu-west-1", "status ", "200 ",     "error ",   "retry "};
  std::mt19937_64 rng(11);
  // Padding is a run of 'p' bytes inside a string value: same length keeps
  // the message valid.
  for (size_t i = 0; i < body.size();) {
    if (body[i] != 'p' || i + 8 >= body.size() || body[i + 8] != 'p') {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < body.size() && body[end] == 'p') ++end;
    while (i < end) {
      std::string_view w = kWords[rng() % std::size(kWords)];
      std::string token = std::string(w) + std::to_string(rng() % 10000);
      size_t n = std::min(token.size(), end - i);
      std::memcpy(&body[i], token.data(), n);
      i += n;
    }
  }
  return body;
}

const std::string& Body() {
  static const std::string* const kBody = new std::string(MakeBody());
  return *kBody;
}

void Report(benchmark::State& state, size_t compressed) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(Body().size()));
  state.counters["ratio"] = static_cast<double>(Body().size()) / static_cast<double>(compressed);
}

void BM_Zlib(benchmark::State& state) {
  const std::string& in = Body();
  std::string out(compressBound(in.size()) + 32, '\0');
  size_t produced = 0;
  for (auto _ : state) {
    z_stream zs{};
    deflateInit2(&zs, static_cast<int>(state.range(0)), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    produced = zs.total_out;
    deflateEnd(&zs);
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, produced);
}
BENCHMARK(BM_Zlib)->Arg(1)->Arg(6);

void BM_Libdeflate(benchmark::State& state) {
  const std::string& in = Body();
  libdeflate_compressor* c = libdeflate_alloc_compressor(static_cast<int>(state.range(0)));
  std::string out(libdeflate_gzip_compress_bound(c, in.size()), '\0');
  size_t produced = 0;
  for (auto _ : state) {
    produced = libdeflate_gzip_compress(c, in.data(), in.size(), out.data(), out.size());
    benchmark::DoNotOptimize(out.data());
  }
  libdeflate_free_compressor(c);
  Report(state, produced);
}
BENCHMARK(BM_Libdeflate)->Arg(1)->Arg(6);

void BM_IsalIgzip(benchmark::State& state) {
  const std::string& in = Body();
  std::string out(in.size() + 1024, '\0');
  const int level = static_cast<int>(state.range(0));
  const size_t level_buf_size = level == 0   ? 0
                                : level == 1 ? ISAL_DEF_LVL1_DEFAULT
                                : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                                             : ISAL_DEF_LVL3_DEFAULT;
  std::string level_buf(level_buf_size, '\0');
  size_t produced = 0;
  for (auto _ : state) {
    isal_zstream zs;
    isal_deflate_init(&zs);
    zs.gzip_flag = IGZIP_GZIP;
    zs.level = static_cast<uint32_t>(level);
    zs.level_buf = level == 0 ? nullptr : reinterpret_cast<uint8_t*>(level_buf.data());
    zs.level_buf_size = static_cast<uint32_t>(level_buf.size());
    zs.flush = NO_FLUSH;
    zs.end_of_stream = 1;
    zs.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uint32_t>(in.size());
    zs.next_out = reinterpret_cast<uint8_t*>(out.data());
    zs.avail_out = static_cast<uint32_t>(out.size());
    isal_deflate(&zs);
    produced = zs.total_out;
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, produced);
}
BENCHMARK(BM_IsalIgzip)->Arg(0)->Arg(1)->Arg(3);

}  // namespace
}  // namespace gateway
