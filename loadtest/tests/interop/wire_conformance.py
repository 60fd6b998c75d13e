"""Checks mulambda's own .proto rendering of TF Serving's contract (wire/proto, compiled by
protoc into a descriptor set) against the descriptors of the official tensorflow-serving-api
package: every message, field, enum value and service method mulambda declares must exist
there with the same number, type, cardinality and (for services) path and types. mulambda may
declare less than TF Serving (a subset), never something different.

Usage: wire_conformance.py DESCRIPTOR_SET   (run by scripts/test-interop.sh)
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402,F401  (registers the official descriptors)
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2,
    prediction_service_pb2,
)

OFFICIAL = descriptor_pool.Default()


def main():
    fds = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as f:
        fds.ParseFromString(f.read())
    problems, checked = [], 0

    def check_message(prefix, msg):
        nonlocal checked
        full = f"{prefix}.{msg.name}"
        if msg.options.map_entry:
            return
        try:
            official = OFFICIAL.FindMessageTypeByName(full)
        except KeyError:
            problems.append(f"message {full}: not in tensorflow-serving-api")
            return
        by_number = {f.number: f for f in official.fields}
        for field in msg.field:
            checked += 1
            o = by_number.get(field.number)
            if o is None:
                problems.append(f"{full}.{field.name} = {field.number}: no such field number")
                continue
            ours_type = field.type_name.lstrip(".")
            typed = o.message_type or o.enum_type
            theirs_type = typed.full_name if typed else ""
            theirs_repeated = o.is_repeated if hasattr(o, "is_repeated") else o.label == 3
            # Map fields compare through their entry types (FooEntry, named alike on both sides).
            same = (
                o.name == field.name
                and o.type == field.type
                and (field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
                == theirs_repeated
                and ours_type == theirs_type
            )
            if not same:
                problems.append(
                    f"{full}.{field.name} = {field.number}: ours type {field.type} {ours_type!r}"
                    f" label {field.label}; theirs {o.name} type {o.type} {theirs_type!r}"
                )
        for nested in msg.nested_type:
            check_message(full, nested)
        for enum in msg.enum_type:
            check_enum(full, enum)

    def check_enum(prefix, enum):
        nonlocal checked
        full = f"{prefix}.{enum.name}"
        try:
            official = OFFICIAL.FindEnumTypeByName(full)
        except KeyError:
            problems.append(f"enum {full}: not in tensorflow-serving-api")
            return
        theirs = {v.name: v.number for v in official.values}
        for value in enum.value:
            checked += 1
            if theirs.get(value.name) != value.number:
                problems.append(f"{full}.{value.name} = {value.number}: theirs {theirs.get(value.name)}")

    for file in fds.file:
        if file.package.startswith("google."):
            continue
        for msg in file.message_type:
            check_message(file.package, msg)
        for enum in file.enum_type:
            check_enum(file.package, enum)
        for service in file.service:
            full = f"{file.package}.{service.name}"
            official = OFFICIAL.FindServiceByName(full)
            methods = {m.name: m for m in official.methods}
            for method in service.method:
                checked += 1
                o = methods.get(method.name)
                if o is None or (
                    o.input_type.full_name != method.input_type.lstrip(".")
                    or o.output_type.full_name != method.output_type.lstrip(".")
                ):
                    problems.append(f"/{full}/{method.name}: differs from TF Serving's")

    for p in problems:
        print("wire-conformance:", p)
    print(f"wire-conformance: {checked - len(problems)} passed, {len(problems)} failed")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
