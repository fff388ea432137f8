"""Where the arm64 sysroot is: an absolute path for the aarch64 toolchain.

scripts/install_arm64_sysroot.sh unpacks Debian's arm64 packages into
.deps/sysroot-arm64 in the source tree. The compiler needs that path
absolute (actions run in a sandbox that holds only their declared inputs, and
declaring the sysroot's tens of thousands of files as inputs of every action
would make each one slow), so this repository rule writes it into
@arm64_sysroot//:sysroot.bzl as `SYSROOT`.

The path is written whether or not the sysroot exists yet: the x86 build
never uses it, and `bazel test //...` loads the toolchain's package without
installing anything.
"""

def _arm64_sysroot_impl(repository_ctx):
    workspace = repository_ctx.path(Label("@//:WORKSPACE")).dirname
    repository_ctx.file("BUILD.bazel", "")
    repository_ctx.file(
        "sysroot.bzl",
        "SYSROOT = \"%s/.deps/sysroot-arm64\"\n" % workspace,
    )

arm64_sysroot = repository_rule(implementation = _arm64_sysroot_impl)
