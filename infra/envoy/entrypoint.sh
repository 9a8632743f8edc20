#!/usr/bin/env bash
# Runs Envoy and drains it on SIGTERM. Envoy itself exits at once on SIGTERM, resetting every
# call in flight; ECS sends SIGTERM on each deploy and scale-in. On SIGTERM (or SIGINT) this:
#   1. POSTs /healthcheck/fail to the admin port: the readiness endpoint (:15021/ready) answers
#      503 so the NLB stops sending new connections, and Envoy starts draining connections
#      (HTTP/2 GOAWAY; open streams run on).
#   2. Waits ENVOY_DRAIN_SECONDS (default 20) or until Envoy has exited.
#   3. Sends SIGTERM to Envoy and exits with its status.
# Keep the ECS container stopTimeout above ENVOY_DRAIN_SECONDS. Extra arguments go to envoy.
set -u
drain_seconds="${ENVOY_DRAIN_SECONDS:-20}"
admin_port="${ENVOY_ADMIN_PORT:-9901}"
config="${ENVOY_CONFIG:-/etc/envoy/envoy.yaml}"

envoy -c "$config" "$@" &
envoy_pid=$!

fail_health_checks() {
  # No curl in the image: a plain HTTP/1.1 request over bash's /dev/tcp. Best effort: never blocks shutdown.
  if exec 3<>"/dev/tcp/127.0.0.1/${admin_port}"; then
    printf 'POST /healthcheck/fail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' >&3
    timeout 2 cat <&3 >/dev/null || true
    exec 3>&- 3<&-
  else
    echo "entrypoint: could not reach Envoy's admin on 127.0.0.1:${admin_port} to start draining" >&2
  fi
}

on_stop() {
  trap '' TERM INT
  echo "entrypoint: stop signal: failing health checks and draining for up to ${drain_seconds}s" >&2
  fail_health_checks
  for ((i = 0; i < drain_seconds; i++)); do
    kill -0 "$envoy_pid" 2>/dev/null || break
    sleep 1
  done
  kill -TERM "$envoy_pid" 2>/dev/null || true
}
trap on_stop TERM INT

# `wait` returns early when a trapped signal arrives; keep waiting until Envoy has really exited,
# then exit with Envoy's own status.
while kill -0 "$envoy_pid" 2>/dev/null; do
  wait "$envoy_pid"
done
wait "$envoy_pid"
