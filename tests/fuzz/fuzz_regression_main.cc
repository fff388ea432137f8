// Runs a fuzz target's LLVMFuzzerTestOneInput, compiled with the normal
// toolchain (no libFuzzer), over every file of its seed corpus and its
// regression inputs, and over prefixes of each (truncations are the most
// common malformed input). A failing FUZZ_CHECK aborts the test.
//
// The target name comes from FUZZ_TARGET_NAME (set by fuzz.bzl); files are
// read from the runfiles under tests/fuzz/{corpus,regressions}/<name>/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::filesystem::path RunfilesDir(const std::string& kind) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  std::filesystem::path root = srcdir != nullptr ? srcdir : ".";
  if (workspace != nullptr) root /= workspace;
  return root / "tests" / "fuzz" / kind / FUZZ_TARGET_NAME;
}

std::vector<std::filesystem::path> Files(const std::string& kind) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  const std::filesystem::path dir = RunfilesDir(kind);
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(".")) continue;
    if (entry.is_regular_file(ec)) out.push_back(entry.path());
  }
  return out;
}

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void RunInput(const std::string& input) {
  // A fresh copy per call so ASan sees reads past the end.
  std::vector<uint8_t> copy(input.begin(), input.end());
  LLVMFuzzerTestOneInput(copy.data(), copy.size());
}

void RunWithPrefixes(const std::filesystem::path& path) {
  SCOPED_TRACE(path.string());
  const std::string input = Read(path);
  RunInput(input);
  for (size_t cut : {input.size() / 2, input.size() * 3 / 4, input.size() > 0 ? input.size() - 1 : 0}) {
    if (cut < input.size()) RunInput(input.substr(0, cut));
  }
}

TEST(FuzzRegressionTest, SeedCorpusRuns) {
  const std::vector<std::filesystem::path> files = Files("corpus");
  ASSERT_FALSE(files.empty()) << "no seed corpus at " << RunfilesDir("corpus");
  for (const auto& path : files) RunWithPrefixes(path);
}

TEST(FuzzRegressionTest, RegressionInputsRun) {
  for (const auto& path : Files("regressions")) RunWithPrefixes(path);
}

TEST(FuzzRegressionTest, EmptyAndTinyInputsRun) {
  RunInput("");
  for (int b = 0; b < 256; ++b) RunInput(std::string(1, static_cast<char>(b)));
}

}  // namespace
