"""Shared build macros: one place for the project's compiler flags.

Our own code compiles as C++20 with warnings as errors; generated protobuf
code and system headers are not held to -Werror (see proto.bzl).
"""

GATEWAY_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

def gateway_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = GATEWAY_COPTS + copts, **kwargs)

def gateway_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = GATEWAY_COPTS + copts, **kwargs)

def gateway_cc_test(name, copts = [], deps = [], linkstatic = True, **kwargs):
    # Linked statically like the binary: with our libraries as shared
    # objects, Debian's Abseil (linked --as-needed) misbehaves at run time.
    native.cc_test(
        name = name,
        copts = GATEWAY_COPTS + copts,
        linkstatic = linkstatic,
        deps = deps + ["@system_googletest//:gtest_main"],
        **kwargs
    )

def gateway_cc_benchmark(name, copts = [], deps = [], **kwargs):
    """A Google Benchmark binary plus a smoke test that runs it briefly."""
    native.cc_binary(
        name = name,
        copts = GATEWAY_COPTS + copts,
        deps = deps + ["@system_benchmark//:benchmark_main"],
        **kwargs
    )
    native.sh_test(
        name = name + "_smoke_test",
        srcs = ["//bazel:benchmark_smoke.sh"],
        args = ["$(location :%s)" % name],
        data = [":" + name],
        size = "medium",
    )
