// ReleaseProgramPages: the kernel takes back the resident pages of a loaded
// object's read-only segments, and they come back, unchanged, when used;
// kUnmap leaves them in the page cache.
//
// The object is a shared library (pages_fixture.cc) copied to a file of this
// test's own before it is loaded: the kernel only reclaims a page that no
// other process maps, and another test process may be running the same
// binary or library at the same time.
#include "gateway/lambda/program_pages.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gateway::lambda {
namespace {

using FixtureData = const unsigned char* (*)(size_t*);

// Pages of [data, data + size) that are mapped in this process now
// (/proc/self/pagemap, bit 63).
int PresentPages(const unsigned char* data, size_t size) {
  const long page = sysconf(_SC_PAGESIZE);
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int present = 0;
  const uintptr_t first = reinterpret_cast<uintptr_t>(data) / page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(data) + size - 1) / page;
  for (uintptr_t p = first; p <= last; ++p) {
    uint64_t entry = 0;
    if (pread(fd, &entry, sizeof(entry), static_cast<off_t>(p * sizeof(entry))) == sizeof(entry) &&
        (entry >> 63) != 0) {
      ++present;
    }
  }
  close(fd);
  return present;
}

// Pages of [data, data + size) that the page cache holds (mincore).
int CachedPages(const unsigned char* data, size_t size) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + size;
  std::vector<unsigned char> in_core((end - begin + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(begin), end - begin, in_core.data()) != 0) return -1;
  int cached = 0;
  for (unsigned char c : in_core) cached += c & 1;
  return cached;
}

unsigned Checksum(const unsigned char* data, size_t size) {
  unsigned sum = 0;
  for (size_t i = 0; i < size; ++i) sum = sum * 31 + data[i];
  return sum;
}

class ProgramPagesTest : public ::testing::TestWithParam<ProgramPageRelease> {};

TEST_P(ProgramPagesTest, ReadOnlyPagesOfALoadedObjectAreReleasedAndComeBackUnchanged) {
  const ProgramPageRelease how = GetParam();
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  ASSERT_TRUE(srcdir != nullptr && workspace != nullptr && tmpdir != nullptr);
  const std::filesystem::path built =
      std::filesystem::path(srcdir) / workspace / "tests/gateway/lambda/libpages_fixture.so";
  const std::filesystem::path copy = std::filesystem::path(tmpdir) / "libpages_fixture_copy.so";
  std::filesystem::copy_file(built, copy, std::filesystem::copy_options::overwrite_existing);
  {
    // Written back, as a layer's files are: the kernel reclaims clean pages.
    const int fd = open(copy.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  void* library = dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  auto fixture = reinterpret_cast<FixtureData>(dlsym(library, "PagesFixtureData"));
  ASSERT_NE(fixture, nullptr);
  size_t size = 0;
  const unsigned char* data = fixture(&size);
  const unsigned expected = Checksum(data, size);
  const int pages = PresentPages(data, size);
  ASSERT_GE(pages, 250) << "the fixture's data was just read";

  absl::StatusOr<ReleasedProgramPages> released = ReleaseProgramPages(how);
  ASSERT_TRUE(released.ok()) << released.status() << " (this kernel is expected to know MADV_PAGEOUT)";
  EXPECT_GT(released->segments, 0);
  EXPECT_GT(released->bytes, size);
  // Not all: on this machine's kernel (6.18) the first 64 KiB of the
  // object's file stayed mapped in every run, whatever was asked.
  const int left = PresentPages(data, size);
  EXPECT_LT(left, pages / 4) << left << " of " << pages << " pages still mapped";
  if (how == ProgramPageRelease::kUnmap) {
    // kUnmap's point: the next use is a minor fault. (Whether kReclaim also
    // empties the page cache depends on the kernel and the file system: in
    // this test's sandbox all 257 pages stayed cached, in /tmp none did.)
    const int cached = CachedPages(data, size);
    EXPECT_GE(cached, 250) << "unmapped pages stay in the page cache (" << cached << ")";
  }

  EXPECT_EQ(Checksum(data, size), expected);
  EXPECT_GE(PresentPages(data, size), 250);
  dlclose(library);
}

INSTANTIATE_TEST_SUITE_P(BothWays, ProgramPagesTest,
                         ::testing::Values(ProgramPageRelease::kReclaim, ProgramPageRelease::kUnmap),
                         [](const ::testing::TestParamInfo<ProgramPageRelease>& info) {
                           return info.param == ProgramPageRelease::kReclaim ? "Reclaim" : "Unmap";
                         });

}  // namespace
}  // namespace gateway::lambda
