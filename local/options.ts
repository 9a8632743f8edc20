/** `npm start`'s flags (node:util parseArgs options), apart from main.ts so docs tests can read them without starting anything. */
export const LOCAL_OPTIONS = {
  port: { type: "string", default: "50051" },
  "admin-port": { type: "string", default: "9902" },
  agents: { type: "string", default: "3" },
  "probe-interval-ms": { type: "string", default: "15000" },
} as const;
