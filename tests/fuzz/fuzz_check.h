// Assertions for fuzz targets: a failed check prints what and where, then
// aborts, so libFuzzer saves the input as a crasher and the gtest-driven
// regression test (fuzz_regression_main.cc) fails on it.
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
//     FUZZ_CHECK(parsed.ok() == scanned.ok(), "scanner and libprotobuf disagree");
//     return 0;
//   }
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, message)                                                      \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, #condition, \
                   message);                                                                \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)
