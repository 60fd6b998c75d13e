"""Checks mulambda's .proto rendering of the Open Inference Protocol (wire/proto/inference,
compiled by protoc into a descriptor set) against the descriptors a real V2 package ships:
every message, field and service method mulambda declares must exist there with the same
number, name, type, cardinality and message type. The package may declare more (Triton's and
MLServer's extensions), never something different.

Usage: v2_wire_conformance.py DESCRIPTOR_SET {kserve,mlserver,tritonclient}

One package per process: all three register the protobuf package `inference`, and one Python
process refuses a second registration.
"""
import importlib
import sys

from google.protobuf import descriptor_pb2

MODULES = {
    "kserve": "kserve.protocol.grpc.grpc_predict_v2_pb2",
    "mlserver": "mlserver.grpc.dataplane_pb2",
    "tritonclient": "tritonclient.grpc.service_pb2",
}
PACKAGE = "inference"


def index(file_proto):
    """Messages by full name (nested included) and methods by service/method."""
    messages, methods = {}, {}

    def walk(prefix, msg):
        full = f"{prefix}.{msg.name}"
        messages[full] = msg
        for nested in msg.nested_type:
            walk(full, nested)

    for msg in file_proto.message_type:
        walk(PACKAGE, msg)
    for service in file_proto.service:
        for m in service.method:
            methods[f"{PACKAGE}.{service.name}/{m.name}"] = m
    return messages, methods


def main():
    descriptor_set, source = sys.argv[1], sys.argv[2]
    theirs_file = descriptor_pb2.FileDescriptorProto.FromString(
        importlib.import_module(MODULES[source]).DESCRIPTOR.serialized_pb
    )
    if theirs_file.package != PACKAGE:
        sys.exit(f"{source}: package {theirs_file.package!r}, expected {PACKAGE!r}")
    fds = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set, "rb") as f:
        fds.ParseFromString(f.read())
    ours_files = [f for f in fds.file if f.package == PACKAGE]
    if len(ours_files) != 1:
        sys.exit(f"expected one file of package {PACKAGE} in {descriptor_set}")
    ours_messages, ours_methods = index(ours_files[0])
    theirs_messages, theirs_methods = index(theirs_file)

    problems, checked = [], 0
    for full, msg in ours_messages.items():
        other = theirs_messages.get(full)
        if other is None:
            problems.append(f"message {full}: not in {source}")
            continue
        by_number = {f.number: f for f in other.field}
        for field in msg.field:
            checked += 1
            o = by_number.get(field.number)
            if o is None:
                problems.append(f"{full}.{field.name} = {field.number}: no such field in {source}")
                continue
            ours = (field.name, field.type, field.label, field.type_name, field.HasField("oneof_index"))
            them = (o.name, o.type, o.label, o.type_name, o.HasField("oneof_index"))
            if ours != them:
                problems.append(f"{full} field {field.number}: ours {ours}, {source} {them}")
    for path, m in ours_methods.items():
        checked += 1
        o = theirs_methods.get(path)
        if o is None:
            problems.append(f"method {path}: not in {source}")
            continue
        ours = (m.input_type, m.output_type, m.client_streaming, m.server_streaming)
        them = (o.input_type, o.output_type, o.client_streaming, o.server_streaming)
        if ours != them:
            problems.append(f"method {path}: ours {ours}, {source} {them}")

    if problems:
        print(f"v2 wire conformance against {source}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    print(
        f"v2 wire conformance against {source}: {len(ours_messages)} messages, "
        f"{checked} fields and methods match"
    )


if __name__ == "__main__":
    main()
