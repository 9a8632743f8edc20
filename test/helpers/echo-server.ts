/**
 * A real grpc-js server with raw-bytes methods of every streaming kind, for testing the
 * router's forwarding without any proto: the router must not care what the bytes are.
 */
import * as grpc from "@grpc/grpc-js";

export const ECHO_SERVICE = "/pixell.test.Echo";
const identity = (b: Buffer): Buffer => b;

export interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** Metadata of the last call received, by method. */
  readonly lastMetadata: Map<string, grpc.Metadata>;
  /** Deadline of the last call received, by method (what grpc-js read from grpc-timeout). */
  readonly lastDeadline: Map<string, grpc.Deadline>;
  /** Resolves with the number of cancelled calls so far each time one is cancelled. */
  readonly cancelled: { count: number; waiters: Array<() => void> };
  /** Bytes the server has handed to grpc-js on the current server stream (backpressure test). */
  readonly sent: { bytes: number };
  stop(force?: boolean): Promise<void>;
}

export interface EchoServerOptions {
  readonly name: string;
  readonly port?: number;
  /** Address to listen on (default 127.0.0.1; a network namespace's own address in the cross-task test). */
  readonly host?: string;
}

export async function startEchoServer(opts: EchoServerOptions): Promise<EchoServer> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1 });
  const lastMetadata = new Map<string, grpc.Metadata>();
  const lastDeadline = new Map<string, grpc.Deadline>();
  const cancelled = { count: 0, waiters: [] as Array<() => void> };
  const sent = { bytes: 0 };
  const onCancel = (): void => {
    cancelled.count++;
    cancelled.waiters.splice(0).forEach((w) => w());
  };
  const reply = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set("x-served-by", opts.name);
    md.set("x-reply-bin", Buffer.from([0, 1, 2, 255]));
    return md;
  };
  const trailer = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set("x-trailer", `done-by-${opts.name}`);
    md.set("x-trailer-bin", Buffer.from([9, 8, 7]));
    return md;
  };

  const unary = (name: string, fn: (req: Buffer, call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => void): void => {
    server.register(`${ECHO_SERVICE}/${name}`, (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      lastMetadata.set(name, call.metadata);
      lastDeadline.set(name, call.getDeadline());
      call.on("cancelled", onCancel);
      fn(call.request, call, cb);
    }, identity, identity, "unary");
  };

  // Echoes the request, prefixed with the server's name.
  unary("Unary", (req, call, cb) => {
    call.sendMetadata(reply());
    cb(null, Buffer.concat([Buffer.from(`${opts.name}:`), req]), trailer());
  });
  // Answers with an error carrying details and trailing metadata.
  unary("Fail", (_req, _call, cb) => {
    const md = trailer();
    md.set("grpc-status-details-bin", Buffer.from("rich-error-details"));
    cb({ code: grpc.status.FAILED_PRECONDITION, details: `agent ${opts.name} refuses: precondition ünmet`, metadata: md });
  });
  // Never answers.
  unary("Hang", () => undefined);
  // Answers after the number of milliseconds the request asks for.
  unary("Slow", (req, _call, cb) => { setTimeout(() => cb(null, Buffer.from(`${opts.name}:slept`)), Number(req.toString())); });
  // Answers with a message of the size the request asks for (as ASCII digits).
  unary("Big", (req, _call, cb) => cb(null, Buffer.alloc(Number(req.toString()), 0x61)));
  // What this call arrived with, as JSON: metadata (binary values base64) and the deadline grpc-js read
  // (epoch ms, or null for none): how a test in another process sees what crossed the router.
  unary("Headers", (_req, call, cb) => {
    call.sendMetadata(reply());
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = Buffer.isBuffer(v) ? v.toString("base64") : v;
    const d = call.getDeadline();
    const deadline = d instanceof Date ? d.getTime() : Number.isFinite(d) ? d : null;
    cb(null, Buffer.from(JSON.stringify({ name: opts.name, metadata, deadline })));
  });
  // How many calls this server has seen cancelled so far (a client cancel, a deadline, a reset).
  unary("Stats", (_req, _call, cb) => cb(null, Buffer.from(JSON.stringify({ cancelled: cancelled.count }))));

  // Request: "count,size"; streams count messages of size bytes, respecting backpressure.
  server.register(`${ECHO_SERVICE}/ServerStream`, (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
    lastMetadata.set("ServerStream", call.metadata);
    const [count, size] = call.request.toString().split(",").map(Number) as [number, number];
    let i = 0;
    let done = false;
    call.on("cancelled", () => { done = true; onCancel(); });
    sent.bytes = 0;
    const chunk = Buffer.alloc(size, 0x62);
    const pump = (): void => {
      while (!done && i < count) {
        i++;
        sent.bytes += size;
        if (!call.write(chunk)) {
          call.once("drain", pump);
          return;
        }
      }
      if (!done) {
        done = true;
        call.end(trailer());
      }
    };
    call.sendMetadata(reply());
    pump();
  }, identity, identity, "serverStream");

  // Sums the sizes of the messages received; answers "count,bytes".
  server.register(`${ECHO_SERVICE}/ClientStream`, (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    lastMetadata.set("ClientStream", call.metadata);
    let count = 0;
    let bytes = 0;
    call.on("cancelled", onCancel);
    call.on("data", (b: Buffer) => { count++; bytes += b.length; });
    call.on("end", () => cb(null, Buffer.from(`${count},${bytes}`), trailer()));
  }, identity, identity, "clientStream");

  // Echoes every message back as it arrives.
  server.register(`${ECHO_SERVICE}/Bidi`, (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    lastMetadata.set("Bidi", call.metadata);
    call.on("cancelled", onCancel);
    call.sendMetadata(reply());
    call.on("data", (b: Buffer) => call.write(Buffer.concat([Buffer.from(`${opts.name}:`), b])));
    call.on("end", () => call.end(trailer()));
  }, identity, identity, "bidi");

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host ?? "127.0.0.1"}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    name: opts.name,
    port,
    lastMetadata,
    lastDeadline,
    cancelled,
    sent,
    stop: (force = true) => new Promise<void>((resolve) => {
      if (force) { server.forceShutdown(); resolve(); } else server.tryShutdown(() => resolve());
    }),
  };
}

/** Resolves when the server has seen `n` cancelled calls in total. */
export function waitForCancels(server: EchoServer, n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => { if (server.cancelled.count >= n) resolve(); else server.cancelled.waiters.push(check); };
    check();
  });
}

/** A raw-bytes client for the echo service (or any method), with no message size limit. */
export class RawClient {
  readonly client: grpc.Client;
  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1,
    });
  }
  close(): void { this.client.close(); }

  unary(method: string, body: Buffer | string, md: grpc.Metadata, opts: grpc.CallOptions = {}): Promise<{ body: Buffer; headers: grpc.Metadata; trailers: grpc.Metadata }> {
    return new Promise((resolve, reject) => {
      let headers = new grpc.Metadata();
      let result: Buffer | undefined;
      // grpc-js calls back before it emits 'status', so settle on 'status' to see the trailers.
      const call = this.client.makeUnaryRequest(`${ECHO_SERVICE}/${method}`, (b: Buffer) => b, (b: Buffer) => b,
        Buffer.from(body), md, opts, (err, res) => (err ? reject(err) : (result = res)));
      call.on("metadata", (m) => { headers = m; });
      call.on("status", (s) => { if (result) resolve({ body: result, headers, trailers: s.metadata }); });
    });
  }

  serverStream(body: string, md: grpc.Metadata, opts: grpc.CallOptions = {}): grpc.ClientReadableStream<Buffer> {
    return this.client.makeServerStreamRequest(`${ECHO_SERVICE}/ServerStream`, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body), md, opts);
  }

  clientStream(md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Buffer) => void, opts: grpc.CallOptions = {}): grpc.ClientWritableStream<Buffer> {
    return this.client.makeClientStreamRequest(`${ECHO_SERVICE}/ClientStream`, (b: Buffer) => b, (b: Buffer) => b, md, opts, cb);
  }

  bidi(md: grpc.Metadata, opts: grpc.CallOptions = {}): grpc.ClientDuplexStream<Buffer, Buffer> {
    return this.client.makeBidiStreamRequest(`${ECHO_SERVICE}/Bidi`, (b: Buffer) => b, (b: Buffer) => b, md, opts);
  }
}

export function md(entries: Record<string, string | Buffer>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
}

/** Collects a readable stream's messages, or rejects with its error. */
export function collect(stream: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>): Promise<{ messages: Buffer[]; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    const messages: Buffer[] = [];
    let status: grpc.StatusObject | undefined;
    stream.on("data", (b: Buffer) => messages.push(b));
    stream.on("status", (s: grpc.StatusObject) => { status = s; });
    stream.on("error", reject);
    stream.on("end", () => setImmediate(() => resolve({ messages, status: status! })));
  });
}
