"""A zavhoz client nobody here wrote: Python grpcio with stubs generated from proto/zavhoz.proto at test time.

Usage: interop_client.py STUB_DIR ADDRESS TOKEN USER_ID
Prints one JSON object with what it saw; the Rust test asserts on it.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (  # noqa: E402
    ProtoReflectionDescriptorDatabase,
)
from google.protobuf.descriptor_pool import DescriptorPool  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

import zavhoz_pb2  # noqa: E402
import zavhoz_pb2_grpc  # noqa: E402

address, token, user_id = sys.argv[2], sys.argv[3], int(sys.argv[4])
channel = grpc.insecure_channel(address)
out = {}

health = health_pb2_grpc.HealthStub(channel)
for name in ["", "zavhoz.v1.ResourceService", "zavhoz.v1.SecretService"]:
    status = health.Check(health_pb2.HealthCheckRequest(service=name)).status
    out["health:" + name] = health_pb2.HealthCheckResponse.ServingStatus.Name(status)

reflection = ProtoReflectionDescriptorDatabase(channel)
out["services"] = sorted(reflection.get_services())
pool = DescriptorPool(reflection)
service = pool.FindServiceByName("zavhoz.v1.ResourceService")
out["resource_methods"] = sorted(m.name for m in service.methods)
out["allocate_input"] = service.FindMethodByName("Allocate").input_type.full_name

resources = zavhoz_pb2_grpc.ResourceServiceStub(channel)
auth = [("authorization", "Bearer " + token)]
request = zavhoz_pb2.AllocateRequest(
    acting_user_id=user_id,
    idempotency_key="python-1",
    port=zavhoz_pb2.PortSpec(),
)
try:
    resources.Allocate(request)
    out["unauthenticated"] = "OK?!"
except grpc.RpcError as e:
    out["unauthenticated"] = e.code().name

first = resources.Allocate(request, metadata=auth)
again = resources.Allocate(request, metadata=auth)
out["allocated"] = {
    "id": first.id,
    "kind": zavhoz_pb2.ResourceKind.Name(first.kind),
    "state": zavhoz_pb2.ResourceState.Name(first.state),
    "server": first.server,
    "port": first.port,
    "same_on_retry": first.id == again.id,
}

second = zavhoz_pb2.AllocateRequest(acting_user_id=user_id, idempotency_key="python-2", port=zavhoz_pb2.PortSpec())
try:
    resources.Allocate(second, metadata=auth)
    out["exhausted"] = "OK?!"
except grpc.RpcError as e:
    info = None
    status = rpc_status.from_call(e)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
    out["exhausted"] = {
        "code": e.code().name,
        "message": e.details(),
        "reason": info.reason if info else None,
        "domain": info.domain if info else None,
    }

print(json.dumps(out))
