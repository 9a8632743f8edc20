#!/usr/bin/env bash
# Runs Envoy and drains it on SIGTERM. Envoy itself exits at once on SIGTERM, resetting every
# call in flight; ECS sends SIGTERM on each deploy and scale-in. On SIGTERM (or SIGINT) this:
#   1. POSTs /healthcheck/fail to the admin port: the readiness endpoint (:15021/ready) answers
#      503 so the NLB takes the task out (if it has not already deregistered it), and every
#      response Envoy sends from now on carries a GOAWAY on its connection (open streams run on).
#      It does not reach idle connections: on a deploy, max_connection_duration has already
#      sent those their GOAWAY during the deregistration delay (lib/shutdown.ts).
#   2. Waits ENVOY_DRAIN_SECONDS (default 20) or until Envoy has exited.
#   3. Sends SIGTERM to Envoy and exits with its status.
# The stack sets ENVOY_DRAIN_SECONDS and a stopTimeout above it from lib/shutdown.ts.
# Extra arguments go to envoy.
set -u
default_drain_seconds=20
drain_seconds="${ENVOY_DRAIN_SECONDS:-$default_drain_seconds}"
if ! [[ "$drain_seconds" =~ ^[0-9]{1,4}$ ]]; then
  echo "entrypoint: ENVOY_DRAIN_SECONDS=\"${drain_seconds}\" is not a whole number of seconds (0-9999); draining for ${default_drain_seconds}s instead" >&2
  drain_seconds=$default_drain_seconds
fi
drain_seconds=$((10#$drain_seconds))
admin_port="${ENVOY_ADMIN_PORT:-9901}"
config="${ENVOY_CONFIG:-/etc/envoy/envoy.yaml}"

envoy -c "$config" "$@" &
envoy_pid=$!

fail_health_checks() {
  # No curl in the image: a plain HTTP/1.1 request over bash's /dev/tcp. Best effort, 3 s at most: never blocks shutdown.
  if exec 3<>"/dev/tcp/127.0.0.1/${admin_port}"; then
    printf 'POST /healthcheck/fail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' >&3
    local status=""
    IFS= read -r -t 2 status <&3 || true
    timeout 1 cat <&3 >/dev/null || true
    exec 3>&- 3<&-
    case "$status" in
      "HTTP/1."[01]" 200"*) ;;
      *) echo "entrypoint: Envoy's admin answered \"${status%$'\r'}\" to /healthcheck/fail (expected 200); draining anyway" >&2 ;;
    esac
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
