"""C++ (and gRPC) code generation with the system protoc.

gateway_proto_library runs Debian's protoc (and grpc_cpp_plugin) in a genrule
over .proto files kept below //proto under their upstream package path, and
wraps the generated sources in a cc_library whose include root is //proto, so
code includes "opentelemetry/proto/trace/v1/trace.pb.h". Use it only in
proto/BUILD.bazel.
"""

def _stem(src):
    return src[:-len(".proto")]

def gateway_proto_library(name, srcs, deps = [], grpc = False, visibility = ["//visibility:public"]):
    """srcs: .proto files relative to //proto; deps: other gateway_proto_library targets."""
    outs = []
    for src in srcs:
        outs += [_stem(src) + ".pb.h", _stem(src) + ".pb.cc"]
        if grpc:
            outs += [_stem(src) + ".grpc.pb.h", _stem(src) + ".grpc.pb.cc"]
    native.filegroup(name = name + "_protos", srcs = srcs + [d + "_protos" for d in deps], visibility = visibility)
    cmd = "$(location @system_tools//:protoc) -Iproto -I/usr/include --cpp_out=$(RULEDIR)"
    tools = ["@system_tools//:protoc"]
    if grpc:
        cmd += " --grpc_out=$(RULEDIR) --plugin=protoc-gen-grpc=$(location @system_tools//:grpc_cpp_plugin)"
        tools.append("@system_tools//:grpc_cpp_plugin")
    native.genrule(
        name = name + "_gen",
        srcs = [name + "_protos"],
        outs = outs,
        tools = tools,
        cmd = cmd + " " + " ".join(["proto/" + s for s in srcs]),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        copts = ["-w"],
        deps = deps + ["@system_protobuf//:protobuf"] + (["@system_grpc//:grpc"] if grpc else []),
        visibility = visibility,
    )
