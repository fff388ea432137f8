"""fuzz_regression_test: a libFuzzer target built as a plain gtest.

The fuzz target (one LLVMFuzzerTestOneInput file) is linked with
fuzz_regression_main.cc and run over tests/fuzz/corpus/<name>/ and
tests/fuzz/regressions/<name>/ with the normal toolchain, so every
`bazel test //...` replays the corpus and every crasher found so far.
scripts/fuzz.sh builds the same file with clang and libFuzzer.
"""

load("//bazel:defs.bzl", "gateway_cc_test")

def fuzz_regression_test(name, src, deps = [], **kwargs):
    """name: the target name without "_fuzz" (trace_wire for trace_wire_fuzz.cc)."""
    gateway_cc_test(
        name = name + "_fuzz_regression_test",
        srcs = [src, "fuzz_regression_main.cc"],
        local_defines = ["FUZZ_TARGET_NAME=\\\"%s\\\"" % name],
        # Data files, not sources: the corpus changes whenever it is regenerated.
        data = native.glob(["corpus/%s/**" % name, "regressions/%s/**" % name]),
        deps = deps + [":fuzz_check"],
        **kwargs
    )
