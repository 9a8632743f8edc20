/**
 * Configuration the benchmark writes for the proxies it compares, and the request bytes
 * h2load sends. Pure text builders: the bench writes them to a temp dir; tests check them.
 */

/** One deployment every proxy routes: id in `x-deployment-id`, agent on 127.0.0.1:port. */
export interface BenchDeployment {
  readonly id: string;
  readonly port: number;
}

/** A gRPC length-prefixed message: 1 byte "not compressed", 4 bytes big-endian length, then the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The router's registry file: the real deployments, then fillers (to `size` in all) on `fillerPort`. */
export function registryJson(real: readonly BenchDeployment[], size: number, fillerPort: number): string {
  const fillers = Array.from({ length: Math.max(0, size - real.length) }, (_, i) => ({ id: `filler-${String(i).padStart(5, "0")}`, host: "127.0.0.1", port: fillerPort }));
  return JSON.stringify({ deployments: [...real.map((d) => ({ id: d.id, host: "127.0.0.1", port: d.port })), ...fillers] });
}

/** `nginx -v` prints "nginx version: nginx/1.22.1"; returns [1, 22, 1]. */
export function parseNginxVersion(text: string): [number, number, number] | undefined {
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export interface NginxConfigInput {
  readonly listenPort: number;
  readonly deployments: readonly BenchDeployment[];
  /** Absolute directory for the pid file, logs and temp paths (nginx must not need /var). */
  readonly dir: string;
  readonly version: readonly [number, number, number];
  /** Workers drop to `nobody` under root and could not write our temp dir; keep them root. */
  readonly runningAsRoot: boolean;
}

/**
 * nginx as a gRPC router: `map $http_x_deployment_id` to an upstream, `grpc_pass` to it.
 * One worker (the router is one Node process). Client and upstream keepalive are raised
 * so h2load's connections and the upstream connections live for the whole run.
 */
export function nginxConfig(input: NginxConfigInput): string {
  const [major, minor, patch] = input.version;
  // `http2 on;` replaced `listen ... http2` in 1.25.1.
  const modernHttp2 = major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
  const upstreamName = (i: number): string => `deployment_${i}`;
  const lines = [
    ...(input.runningAsRoot ? ["user root;"] : []),
    "worker_processes 1;",
    `pid ${input.dir}/nginx.pid;`,
    `error_log ${input.dir}/nginx-error.log warn;`,
    "events { worker_connections 4096; }",
    "http {",
    "  access_log off;",
    `  client_body_temp_path ${input.dir}/client_body;`,
    `  proxy_temp_path ${input.dir}/proxy;`,
    `  fastcgi_temp_path ${input.dir}/fastcgi;`,
    `  uwsgi_temp_path ${input.dir}/uwsgi;`,
    `  scgi_temp_path ${input.dir}/scgi;`,
    "  keepalive_requests 100000000;",
    "  keepalive_timeout 300s;",
    "  map $http_x_deployment_id $backend {",
    "    default unknown_deployment;",
    ...input.deployments.map((d, i) => `    ${JSON.stringify(d.id)} ${upstreamName(i)};`),
    "  }",
    ...input.deployments.flatMap((d, i) => [
      `  upstream ${upstreamName(i)} {`,
      `    server 127.0.0.1:${d.port};`,
      "    keepalive 128;",
      "    keepalive_requests 100000000;",
      "    keepalive_timeout 300s;",
      "  }",
    ]),
    "  server {",
    modernHttp2 ? `    listen 127.0.0.1:${input.listenPort};` : `    listen 127.0.0.1:${input.listenPort} http2;`,
    ...(modernHttp2 ? ["    http2 on;"] : []),
    "    location / {",
    "      if ($backend = unknown_deployment) { return 404; }",
    "      grpc_pass grpc://$backend;",
    "    }",
    "  }",
    "}",
  ];
  return lines.join("\n") + "\n";
}

export interface HaproxyConfigInput {
  readonly listenPort: number;
  readonly deployments: readonly BenchDeployment[];
  /** Path of the map file written from `haproxyMap` (deployment id -> backend name). */
  readonly mapPath: string;
}

export const haproxyBackendName = (i: number): string => `deployment_${i}`;

/** `x-deployment-id` value -> backend, one per line (HAProxy's map file format). */
export function haproxyMap(deployments: readonly BenchDeployment[]): string {
  return deployments.map((d, i) => `${d.id} ${haproxyBackendName(i)}`).join("\n") + "\n";
}

/**
 * HAProxy as a gRPC router: an h2 frontend, the backend chosen by a map lookup on
 * `x-deployment-id` (a tree lookup, like the router's table), h2 to the agents.
 * One thread, for the same reason nginx has one worker.
 */
export function haproxyConfig(input: HaproxyConfigInput): string {
  const lines = [
    "global",
    "  nbthread 1",
    "  maxconn 4096", // needs ~2 fds per connection; stays under a default 20000-fd limit
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 300s",
    "  timeout server 300s",
    "frontend a2a",
    `  bind 127.0.0.1:${input.listenPort} proto h2`,
    `  use_backend %[req.hdr(x-deployment-id),map(${input.mapPath},unknown_deployment)]`,
    "  default_backend unknown_deployment",
    "backend unknown_deployment",
    "  http-request return status 404",
    ...input.deployments.flatMap((d, i) => [
      `backend ${haproxyBackendName(i)}`,
      `  server agent 127.0.0.1:${d.port} proto h2`,
    ]),
  ];
  return lines.join("\n") + "\n";
}
