#!/usr/bin/env bash
# Runs Envoy and drains it on SIGTERM. Envoy itself exits at once on SIGTERM, resetting every
# call in flight; ECS sends SIGTERM on each deploy and scale-in. On SIGTERM (or SIGINT) this:
#   1. POSTs /healthcheck/fail to the admin (a Unix socket, ENVOY_ADMIN_SOCKET): the readiness endpoint (:15021/ready) answers
#      503 so the NLB takes the task out (if it has not already deregistered it), and every
#      response Envoy sends from now on carries a GOAWAY on its connection (open streams run on).
#      It does not reach idle connections: on a deploy, max_connection_duration has already
#      sent those their GOAWAY during the deregistration delay (lib/shutdown.ts).
#   2. Waits ENVOY_DRAIN_SECONDS (default 20) or until Envoy has exited.
#   3. Sends SIGTERM to Envoy and exits with its status.
# The stack sets ENVOY_DRAIN_SECONDS and a stopTimeout above it from lib/shutdown.ts, and
# ENVOY_BOOTSTRAP_OVERRIDE (the overload manager for the task's size, envoy/overload.ts),
# which goes to envoy's --config-yaml and is merged into the baked bootstrap.
# Extra arguments go to envoy.
set -u
default_drain_seconds=20
drain_seconds="${ENVOY_DRAIN_SECONDS:-$default_drain_seconds}"
if ! [[ "$drain_seconds" =~ ^[0-9]{1,4}$ ]]; then
  echo "entrypoint: ENVOY_DRAIN_SECONDS=\"${drain_seconds}\" is not a whole number of seconds (0-9999); draining for ${default_drain_seconds}s instead" >&2
  drain_seconds=$default_drain_seconds
fi
drain_seconds=$((10#$drain_seconds))
admin_socket="${ENVOY_ADMIN_SOCKET:-/var/run/envoy-admin/admin.sock}"
config="${ENVOY_CONFIG:-/etc/envoy/envoy.yaml}"

if [[ -n "${ENVOY_BOOTSTRAP_OVERRIDE:-}" ]]; then
  envoy -c "$config" --config-yaml "$ENVOY_BOOTSTRAP_OVERRIDE" "$@" &
else
  echo "entrypoint: ENVOY_BOOTSTRAP_OVERRIDE is not set: Envoy runs without overload limits (the stack sets it from the task size)" >&2
  envoy -c "$config" "$@" &
fi
envoy_pid=$!

fail_health_checks() {
  # Best effort, 3 s at most: never blocks shutdown. curl prints the status code (000: no answer).
  local status
  status=$(curl --silent --show-error --max-time 3 --unix-socket "$admin_socket" -X POST \
    -H 'Content-Length: 0' -o /dev/null -w '%{http_code}' http://localhost/healthcheck/fail) || true
  case "$status" in
    200) ;;
    000|"") echo "entrypoint: could not reach Envoy's admin on ${admin_socket} to start draining" >&2 ;;
    *) echo "entrypoint: Envoy's admin answered ${status} to /healthcheck/fail (expected 200); draining anyway" >&2 ;;
  esac
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
