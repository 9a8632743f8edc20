"""Drives the router with Python grpcio (C core): an HTTP/2 and HPACK implementation independent of Node's.

usage: grpcio_client.py HOST:PORT DEPLOYMENT_ID   -> prints one JSON line with what it saw
"""
import json
import sys

import grpc

target, deployment = sys.argv[1], sys.argv[2]
md = [("x-deployment-id", deployment), ("x-from", "grpcio"), ("x-trace-bin", b"\x00\x01\xff")]
out = {}
with grpc.insecure_channel(target) as channel:
    unary = channel.unary_unary("/pixell.test.Echo/Unary")
    for i in range(20):  # repeated calls: grpcio's HPACK reuses its dynamic table across them
        body, call = unary.with_call(b"py%d" % i, metadata=md, timeout=5)
    out["unary"] = body.decode()
    out["unary_trailers"] = {k: v for k, v in call.trailing_metadata() if not k.endswith("-bin")}
    stream = channel.unary_stream("/pixell.test.Echo/ServerStream")
    msgs = list(stream(b"50,70000", metadata=md, timeout=10))
    out["server_stream"] = [len(msgs), sum(len(m) for m in msgs)]
    bidi = channel.stream_stream("/pixell.test.Echo/Bidi")
    out["bidi"] = [m.decode() for m in bidi(iter([b"a", b"b", b"c"]), metadata=md, timeout=5)]
    client_stream = channel.stream_unary("/pixell.test.Echo/ClientStream")
    out["client_stream"] = client_stream(iter([b"x" * 100000] * 30), metadata=md, timeout=10).decode()
    try:
        unary(b"x", metadata=[("x-deployment-id", "nobody")], timeout=5)
    except grpc.RpcError as e:
        out["unknown"] = [e.code().name, e.details()]
print(json.dumps(out))
