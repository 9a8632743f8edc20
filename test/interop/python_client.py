"""Drives the router with Python's grpcio (a C-core gRPC, not grpc-js): generic raw-bytes calls.

Usage: python3 python_client.py HOST:PORT. Prints one JSON object with what each call got back.
"""
import json
import sys
import time

import grpc

ECHO = "/pixell.test.Echo/"


def outcome(fn):
    try:
        return {"ok": True, "value": fn()}
    except grpc.RpcError as err:  # a grpc.Call too: code(), details(), trailing_metadata()
        trailers = {k: (v if isinstance(v, str) else v.hex()) for k, v in (err.trailing_metadata() or ())}
        return {"ok": False, "code": err.code().name, "details": err.details(), "trailers": trailers}


def main(target):
    results = {"grpcio": grpc.__version__}
    with grpc.insecure_channel(target) as channel:
        unary = lambda m: channel.unary_unary(ECHO + m)  # no serializers: bytes in, bytes out
        md = lambda i: (("x-deployment-id", i), ("x-from", "python"))

        def unary_call():
            body, call = unary("Unary").with_call(b"hello", metadata=md("alpha"), timeout=5)
            return {"body": body.decode(), "servedBy": dict(call.initial_metadata()).get("x-served-by"),
                    "trailer": dict(call.trailing_metadata()).get("x-trailer")}
        results["unary"] = outcome(unary_call)

        def stream_call():
            stream = channel.unary_stream(ECHO + "ServerStream")(b"5,100", metadata=md("alpha"), timeout=5)
            return [len(m) for m in stream]
        results["serverStream"] = outcome(stream_call)

        results["deadline"] = outcome(lambda: unary("Hang")(b"", metadata=md("alpha"), timeout=0.3).decode())
        results["notFound"] = outcome(lambda: unary("Unary")(b"x", metadata=md("nobody"), timeout=5).decode())
        results["malformedId"] = outcome(lambda: unary("Unary")(b"x", metadata=md("../alpha"), timeout=5).decode())
        results["agentError"] = outcome(lambda: unary("Fail")(b"x", metadata=md("alpha"), timeout=5).decode())

        future = unary("Hang").future(b"", metadata=md("alpha"), timeout=10)
        time.sleep(0.3)
        future.cancel()
        results["cancel"] = {"cancelled": future.cancelled()}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
