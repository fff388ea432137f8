"""Wraps the Debian-packaged C++ libraries as Bazel repositories.

Headers live under /usr/include (a built-in include directory of the system
toolchain) and libraries under /usr/lib/x86_64-linux-gnu; each repository is
a cc_library that links the right shared objects. scripts/install_deps.sh
installs the packages these names stand for.
"""

_LIBS = {
    "system_abseil": ("/usr/include/absl", "abseil.BUILD"),
    "system_benchmark": ("/usr/include/benchmark", "benchmark.BUILD"),
    "system_boost": ("/usr/include/boost", "boost.BUILD"),
    "system_concurrentqueue": ("/usr/include/concurrentqueue", "concurrentqueue.BUILD"),
    "system_curl": ("/usr/include/x86_64-linux-gnu/curl", "curl.BUILD"),
    "system_googletest": ("/usr/include/gtest", "googletest.BUILD"),
    "system_grpc": ("/usr/include/grpcpp", "grpc.BUILD"),
    "system_protobuf": ("/usr/include/google/protobuf", "protobuf.BUILD"),
    "system_tools": ("/usr/bin", "tools.BUILD"),
    "system_yaml_cpp": ("/usr/include/yaml-cpp", "yaml_cpp.BUILD"),
    "system_zlib": ("/usr/include", "zlib.BUILD"),
    "system_libdeflate": ("/usr/include", "libdeflate.BUILD"),
    "system_isal": ("/usr/include", "isal.BUILD"),
    "system_hiredis": ("/usr/include/hiredis", "hiredis.BUILD"),
    "system_openssl": ("/usr/include/openssl", "openssl.BUILD"),
}

def system_libraries():
    for name, (path, build_file) in _LIBS.items():
        native.new_local_repository(
            name = name,
            path = path,
            build_file = "//bazel/third_party:" + build_file,
        )
