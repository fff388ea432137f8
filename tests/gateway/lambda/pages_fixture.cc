// A shared library for program_pages_test: 256 pages (1 MiB) of read-only data that
// the test copies to a file of its own, loads, touches and checks.
#include <array>
#include <cstddef>

namespace {

constexpr size_t kBytes = 256 * 4096;

constexpr std::array<unsigned char, kBytes> MakeData() {
  std::array<unsigned char, kBytes> data{};
  for (size_t i = 0; i < kBytes; i += 16) data[i] = static_cast<unsigned char>(i / 16 * 131 + 7);
  return data;
}

constexpr std::array<unsigned char, kBytes> kData = MakeData();

}  // namespace

extern "C" const unsigned char* PagesFixtureData(size_t* size) {
  *size = kData.size();
  return kData.data();
}
