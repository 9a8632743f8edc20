"""An agent on Python grpcio (C core) with its default keepalive enforcement: a PING less than
5 minutes after the previous one, with no HEADERS or DATA sent in between, is a strike, and the
third strike ends the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (gRPC's
doc/keepalive.md: GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS 300000, MAX_PING_STRIKES 2).

usage: grpcio_silent_agent.py   -> prints {"port": N} once listening on 127.0.0.1
  /pixell.test.Echo/Silent  sleeps the number of seconds in the request, sending nothing, then answers b"done"
"""
import json
import time
from concurrent import futures

import grpc


def silent(request, context):
    time.sleep(float(request.decode() or "1"))
    return b"done"


class Handler(grpc.GenericRpcHandler):
    def service(self, details):
        if details.method == "/pixell.test.Echo/Silent":
            return grpc.unary_unary_rpc_method_handler(silent)
        return None


server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[Handler()])
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(json.dumps({"port": port}), flush=True)
server.wait_for_termination()
