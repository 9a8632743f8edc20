/**
 * PAR's REST API as the router's `par:` source uses it: `GET /deployments/{id}/health` answers
 * 200 `{"status","healthy","ports":{"a2a":N}}` for a known id, 404 otherwise. Modes model PAR
 * going away: `down` resets every connection, `hang` accepts and never answers.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export type FakeParMode = "up" | "down" | "hang";

export interface FakePar {
  readonly url: string;
  /** Every request path, in order. */
  readonly requests: string[];
  mode: FakeParMode;
  /** Stops listening (new connections are refused) and drops open ones. Safe to call twice. */
  close(): Promise<void>;
}

export async function startFakePar(opts: {
  /** The a2a port of each known deployment, or a function for "every id is known". */
  readonly deployments: Readonly<Record<string, number>> | ((id: string) => number | undefined);
  /** Answer this late, so a burst of calls overlaps one lookup. */
  readonly delayMs?: number;
}): Promise<FakePar> {
  const portOf = typeof opts.deployments === "function" ? opts.deployments : (id: string) => (opts.deployments as Record<string, number>)[id];
  const requests: string[] = [];
  const par: FakePar = {
    url: "",
    requests,
    mode: "up",
    close: async () => {
      server.closeAllConnections();
      if (server.listening) await new Promise((r) => server.close(r));
    },
  };
  const answer = (url: string, res: http.ServerResponse): void => {
    const m = /^\/deployments\/([^/]+)\/health$/.exec(url);
    const port = m ? portOf(decodeURIComponent(m[1]!)) : undefined;
    if (port === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "running", healthy: true, ports: { a2a: port, rest: 8080 } }));
  };
  const server = http.createServer((req, res) => {
    requests.push(req.url!);
    if (par.mode === "down") { req.socket.destroy(); return; }
    if (par.mode === "hang") return;
    if (opts.delayMs) setTimeout(answer, opts.delayMs, req.url!, res);
    else answer(req.url!, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (par as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return par;
}
