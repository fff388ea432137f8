"""The Lambda layer's link: Debian's C++ libraries from their static archives.

`//bazel:static_cxx` (default false) selects, in bazel/third_party/*.BUILD,
the static archives of gRPC, protobuf, Abseil, RE2, c-ares, upb, yaml-cpp
and hiredis instead of their shared objects, and links libstdc++ and libgcc
statically into the gateway. C libraries (glibc, OpenSSL, libcurl and its
protocol libraries, zlib, ISA-L) stay shared. The layer gets ~50 fewer
shared libraries to load at each cold start (docs/lambda.md, What it costs).

`static_cxx_binary` builds its `binary` with the flag set, whatever the
command line says, so `//deploy/lambda:layer` is always the static link.
`static_cxx_arm64_binary` does the same for aarch64 with the cross
toolchain (bazel/toolchains/aarch64, as `--config=arm64` selects it), so
`//deploy/lambda:layer_arm64` needs no flags and its test can run host
tools (the Lambda API stand-ins) built for this machine beside it.
"""

def _flag_impl(ctx):
    return []

static_cxx_flag = rule(
    implementation = _flag_impl,
    build_setting = config.bool(flag = True),
)

def _static_cxx_transition_impl(settings, attr):
    return {"//bazel:static_cxx": True}

_static_cxx_transition = transition(
    implementation = _static_cxx_transition_impl,
    inputs = [],
    outputs = ["//bazel:static_cxx"],
)

def _static_cxx_arm64_transition_impl(settings, attr):
    # The same as --config=arm64 in .bazelrc. Build-time tools keep the host
    # toolchain (in Bazel 4 they would otherwise follow --crosstool_top).
    return {
        "//bazel:static_cxx": True,
        "//command_line_option:cpu": "aarch64",
        "//command_line_option:compiler": "gcc",
        "//command_line_option:crosstool_top": "//bazel/toolchains/aarch64:toolchain",
        "//command_line_option:host_crosstool_top": "@bazel_tools//tools/cpp:toolchain",
    }

_static_cxx_arm64_transition = transition(
    implementation = _static_cxx_arm64_transition_impl,
    inputs = [],
    outputs = [
        "//bazel:static_cxx",
        "//command_line_option:cpu",
        "//command_line_option:compiler",
        "//command_line_option:crosstool_top",
        "//command_line_option:host_crosstool_top",
    ],
)

def _static_cxx_binary_impl(ctx):
    binary = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.run_shell(
        inputs = [binary],
        outputs = [out],
        command = "cp \"$1\" \"$2\"",
        arguments = [binary.path, out.path],
    )
    return [DefaultInfo(files = depset([out]), executable = out)]

def _static_binary_rule(cfg):
    # The same copy rule, its `binary` built in the configuration `cfg` sets.
    return rule(
        implementation = _static_cxx_binary_impl,
        executable = True,
        attrs = {
            "binary": attr.label(cfg = cfg, executable = True, mandatory = True),
            "_allowlist_function_transition": attr.label(
                default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
            ),
        },
    )

static_cxx_binary = _static_binary_rule(_static_cxx_transition)

static_cxx_arm64_binary = _static_binary_rule(_static_cxx_arm64_transition)
