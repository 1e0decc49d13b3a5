"""The secret-handle path of zavhoz, checked by a client nobody here wrote: Python grpcio with stubs generated
from proto/zavhoz.proto (scripts/compose-zavhoz-check.sh generates them; crates/zavhoz's interop test does the
same for the resource path, and the check runs that client too).

Usage: zavhoz_secret_client.py STUB_DIR ADDRESS GRAPH_RUNNER_TOKEN WORKER_SPAWNER_TOKEN USER_ID SOPS_PATH
Prints one JSON object with what it saw. The resolved value itself is never printed: only its SHA-256, which the
caller compares with the value it put into secrets.yaml.
"""

import hashlib
import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

import zavhoz_pb2  # noqa: E402
import zavhoz_pb2_grpc  # noqa: E402

address, graph_runner, worker_spawner, user_id, sops_path = sys.argv[2:7]
channel = grpc.insecure_channel(address)
resources = zavhoz_pb2_grpc.ResourceServiceStub(channel)
secrets = zavhoz_pb2_grpc.SecretServiceStub(channel)
out = {}


def bearer(token):
    return [("authorization", "Bearer " + token)]


def code_of(call):
    try:
        call()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


health = health_pb2_grpc.HealthStub(channel)
out["health:zavhoz.v1.SecretService"] = health_pb2.HealthCheckResponse.ServingStatus.Name(
    health.Check(health_pb2.HealthCheckRequest(service="zavhoz.v1.SecretService"), timeout=10).status
)

allocate = zavhoz_pb2.AllocateRequest(
    acting_user_id=int(user_id),
    idempotency_key="compose-check-secret",
    secret=zavhoz_pb2.SecretSpec(sops_path=sops_path, single_use=False),
)
out["allocate_without_token"] = code_of(lambda: resources.Allocate(allocate, timeout=10))
out["allocate_with_unknown_token"] = code_of(
    lambda: resources.Allocate(allocate, metadata=bearer("zvh_" + "0" * 64), timeout=10)
)

allocated = resources.Allocate(allocate, metadata=bearer(graph_runner), timeout=10)
out["allocated"] = {
    "kind": zavhoz_pb2.ResourceKind.Name(allocated.kind),
    "state": zavhoz_pb2.ResourceState.Name(allocated.state),
    "handle": allocated.handle,
    "secret_source": allocated.secret_source,
    "resource_id": allocated.id,
}

resolve = zavhoz_pb2.ResolveRequest(handle=allocated.handle, purpose="compose check")
out["resolve_without_token"] = code_of(lambda: secrets.Resolve(resolve, timeout=10))
out["resolve_by_graph_runner"] = code_of(lambda: secrets.Resolve(resolve, metadata=bearer(graph_runner), timeout=10))

try:
    resolved = secrets.Resolve(resolve, metadata=bearer(worker_spawner), timeout=10)
    out["resolve_by_worker_spawner"] = {
        "value_sha256": hashlib.sha256(resolved.value.encode()).hexdigest(),
        "resource_id": resolved.resource_id,
    }
except grpc.RpcError as e:
    out["resolve_by_worker_spawner"] = {"value_sha256": e.code().name, "resource_id": ""}

print(json.dumps(out))
