/**
 * AWS endpoints that never finish answering, on 127.0.0.1, for the probe's deadline tests:
 * `silent` accepts the TCP connection, reads the request and never writes a byte; `stalled`
 * sends a 200 with the service's content type and a Content-Length, part of the body, and
 * never the rest; `hangingOn` answers some operations and never answers the others. All count
 * connections and know how many are still open, so a test can assert the client abandoned
 * (closed) every hung request.
 */
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export interface HungEndpoint {
  /** `http://127.0.0.1:PORT`, for the SDK client's `endpoint`. */
  readonly url: string;
  /** Connections accepted so far (one per SDK attempt on a fresh socket). */
  readonly connections: number;
  /** Connections not yet closed by the client. */
  readonly open: number;
  /** Requests whose headers arrived (`stalled` only; `silent` never parses). */
  readonly requests: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and counts the server's connections and the ones still open. */
async function serve(server: net.Server, requests: () => number): Promise<HungEndpoint> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  server.on("connection", (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() { return connections; },
    get open() { return sockets.size; },
    get requests() { return requests(); },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Accepts and reads, never answers. */
export async function startSilentEndpoint(): Promise<HungEndpoint> {
  const server = net.createServer((s) => { s.resume(); s.on("error", () => {}); });
  return serve(server, () => 0);
}

/** Answers 200 and the start of a JSON body, then nothing: the response never completes. */
export async function startStalledBodyEndpoint(contentType: string): Promise<HungEndpoint> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": contentType, "content-length": "4096", "x-amzn-requestid": `stalled-${requests}` });
      res.write("{\"Instances\":[");
    });
  });
  return serve(server, () => requests);
}

/**
 * AWS JSON: operations for which `answer` returns a body get it (200); the others (`undefined`)
 * are read and never answered, e.g. DiscoverInstances answered and the ListInstances after it hung.
 */
export async function startHangingOnEndpoint(contentType: string, answer: (operation: string) => unknown): Promise<HungEndpoint> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const target = String(req.headers["x-amz-target"] ?? "");
    const body = answer(target.slice(target.lastIndexOf(".") + 1));
    req.resume();
    req.on("end", () => {
      if (body === undefined) return;
      const text = JSON.stringify(body);
      res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text), "x-amzn-requestid": `answered-${requests}` });
      res.end(text);
    });
  });
  return serve(server, () => requests);
}
