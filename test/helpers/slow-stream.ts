/**
 * Streams a large server-stream through a router to a client that reads slowly, sampling the
 * router process's RSS meanwhile. Shared by the unit test (tens of MiB) and test/stress (1 GiB).
 */
import * as grpc from "@grpc/grpc-js";
import { md, type RawClient } from "../../fixtures/echo-server";
import { rssBytes } from "../../fixtures/child-router";

export interface SlowStreamOptions {
  readonly client: RawClient;
  readonly routerPid: number;
  readonly deploymentId: string;
  readonly totalBytes: number;
  readonly messageBytes: number;
  /** The reader pauses this long after every `pauseEvery` messages. */
  readonly pauseMs: number;
  readonly pauseEvery: number;
  readonly sampleEveryMs?: number;
  /** Bytes the agent has handed to its gRPC library so far, to measure how far it runs ahead of the reader. */
  readonly agentSentBytes?: () => number;
}

export interface SlowStreamResult {
  readonly receivedBytes: number;
  readonly status: grpc.StatusObject;
  readonly rssBeforeBytes: number;
  readonly rssMaxBytes: number;
  /** Largest gap seen between what the agent produced and what the client had read (when agentSentBytes is given). */
  readonly maxLeadBytes: number;
  readonly ms: number;
}

export async function slowStream(opts: SlowStreamOptions): Promise<SlowStreamResult> {
  const count = Math.ceil(opts.totalBytes / opts.messageBytes);
  const rssBeforeBytes = rssBytes(opts.routerPid);
  let rssMaxBytes = rssBeforeBytes;
  let maxLeadBytes = 0;
  let receivedBytes = 0;
  const sampler = setInterval(() => {
    rssMaxBytes = Math.max(rssMaxBytes, rssBytes(opts.routerPid));
    if (opts.agentSentBytes) maxLeadBytes = Math.max(maxLeadBytes, opts.agentSentBytes() - receivedBytes);
  }, opts.sampleEveryMs ?? 50);
  const t0 = performance.now();
  try {
    const stream = opts.client.serverStream(`${count},${opts.messageBytes}`, md({ "x-deployment-id": opts.deploymentId }));
    let messages = 0;
    const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
      let st: grpc.StatusObject | undefined;
      stream.on("data", (b: Buffer) => {
        receivedBytes += b.length;
        if (++messages % opts.pauseEvery === 0) {
          stream.pause();
          setTimeout(() => stream.resume(), opts.pauseMs);
        }
      });
      stream.on("status", (s: grpc.StatusObject) => { st = s; });
      stream.on("error", reject);
      stream.on("end", () => setImmediate(() => resolve(st!)));
    });
    rssMaxBytes = Math.max(rssMaxBytes, rssBytes(opts.routerPid));
    return { receivedBytes, status, rssBeforeBytes, rssMaxBytes, maxLeadBytes, ms: performance.now() - t0 };
  } finally {
    clearInterval(sampler);
  }
}
