/**
 * Envoy's v3 API, loaded from the protos `@grpc/grpc-js-xds` ships, used two ways:
 * - `toProtoObject` checks a config written in Envoy's JSON/YAML form (snake_case field names,
 *   `@type` on every `Any`, durations as "5s") strictly: unknown or deprecated fields, wrong
 *   value types, unknown enum names, two members of a oneof, unresolvable `@type`s and the
 *   protoc-gen-validate rules Envoy itself enforces (required, min_len, min_items, ranges)
 *   are errors. The bootstrap tests and the xDS server both go through it.
 * - `encodeAny` turns a checked resource into the `google.protobuf.Any` the xDS server sends.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as protobuf from "protobufjs";

/** Beside a bundle (the router image), the protos are copied here by build/router.ts. */
export const BUNDLED_PROTO_DIR = "envoy-protos";
/** The include directories, in order, relative to the package that ships each one. */
export const PROTO_INCLUDE_DIRS = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"] as const;

/** Where the protos are: resolved on first use, so importing this module never fails on its own. */
function includeDirs(): string[] {
  const bundled = path.join(__dirname, BUNDLED_PROTO_DIR);
  if (fs.existsSync(bundled)) return [...PROTO_INCLUDE_DIRS.map((d) => path.join(bundled, d)), path.join(bundled, "protobufjs")];
  let xdsDeps: string;
  try {
    xdsDeps = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  } catch {
    throw new Error("Envoy's v3 protos come from the @grpc/grpc-js-xds package, which is not installed: install it (a runtime dependency of the router's xDS server)");
  }
  return [
    ...PROTO_INCLUDE_DIRS.map((d) => path.join(xdsDeps, d)),
    // google/protobuf/descriptor.proto (imported by the validate annotations).
    path.dirname(require.resolve("protobufjs/package.json")),
  ];
}

/** Every proto the generated bootstrap and the xDS resources use, including each `typed_config` extension. */
export const ENVOY_PROTO_FILES = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/health_check/v3/health_check.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  // The overload manager's resource monitors (overload.ts).
  "envoy/extensions/resource_monitors/fixed_heap/v3/fixed_heap.proto",
  "envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto",
] as const;

export const TYPE_URL_PREFIX = "type.googleapis.com/";

let cachedRoot: protobuf.Root | undefined;

/** The loaded Envoy API (cached: loading takes about a second). Field names are kept in snake_case. */
export function envoyRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

/** Looks up a message type by full name (`envoy.config.listener.v3.Listener`); throws when it is not loaded. */
export function messageType(fullName: string): protobuf.Type {
  const found = envoyRoot().lookup(fullName);
  if (!(found instanceof protobuf.Type)) {
    throw new Error(`message type ${fullName} is not in the loaded Envoy protos (${ENVOY_PROTO_FILES.length} files): add its file to ENVOY_PROTO_FILES`);
  }
  return found;
}

/** A config that does not parse: every problem found, each with its path in the config. */
export class EnvoyConfigError extends Error {
  constructor(readonly typeName: string, readonly problems: readonly string[]) {
    super(`invalid ${typeName}: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
    this.name = "EnvoyConfigError";
  }
}

/** JSON as written in an Envoy config. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type ProtoObject = { [key: string]: unknown };

const DURATION_PATTERN = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/;
const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1],
};
const INT64_TYPES = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);
const WRAPPERS: Record<string, string> = {
  "google.protobuf.BoolValue": "bool", "google.protobuf.StringValue": "string", "google.protobuf.BytesValue": "bytes",
  "google.protobuf.UInt32Value": "uint32", "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt64Value": "uint64", "google.protobuf.Int64Value": "int64",
  "google.protobuf.DoubleValue": "double", "google.protobuf.FloatValue": "float",
};

/** protoc-gen-validate's well-known patterns (strict mode), as Envoy applies them. */
const WELL_KNOWN_REGEX: Record<string, RegExp> = {
  HTTP_HEADER_NAME: /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/,
  HTTP_HEADER_VALUE: /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/,
};

function durationSeconds(value: string): number | undefined {
  const m = DURATION_PATTERN.exec(value);
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) + Number(`0.${m[3] ?? "0"}`)) : undefined;
}

const isObject = (v: unknown): v is { [key: string]: JsonValue } => typeof v === "object" && v !== null && !Array.isArray(v);
const fullName = (t: protobuf.Type): string => t.fullName.replace(/^\./, "");

/** The protoc-gen-validate rules of a field, as protobufjs parsed them (`(validate.rules)` option). */
function validateRules(field: protobuf.Field): Record<string, unknown> {
  const rules: Record<string, unknown> = {};
  // protobufjs types parsedOptions loosely; at run time it is a list of {"(option)": value}.
  const parsed: unknown = field.parsedOptions;
  for (const opt of Array.isArray(parsed) ? (parsed as unknown[]) : []) {
    const value = isObject(opt) ? opt["(validate.rules)"] : undefined;
    if (isObject(value)) Object.assign(rules, value);
  }
  return rules;
}

class Checker {
  readonly problems: string[] = [];

  message(value: unknown, type: protobuf.Type, at: string): ProtoObject | undefined {
    const name = fullName(type);
    const special = this.wellKnown(value, name, at);
    if (special !== undefined) return special.result;
    if (!isObject(value)) {
      this.problems.push(`${at}: expected an object for ${name}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    const out: ProtoObject = {};
    for (const [key, fieldValue] of Object.entries(value)) {
      const field = type.fields[key];
      const here = at ? `${at}.${key}` : key;
      if (!field) {
        this.problems.push(`${here}: unknown field "${key}" in ${name}`);
        continue;
      }
      if (field.options?.deprecated) this.problems.push(`${here}: field is deprecated in ${name} (Envoy rejects deprecated fields by default)`);
      if (fieldValue === null) continue;
      const converted = this.field(fieldValue, field, here);
      if (converted !== undefined) out[key] = converted;
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => value[f.name] !== undefined && value[f.name] !== null).map((f) => f.name);
      if (set.length > 1) this.problems.push(`${at || name}: only one of ${oneof.name} {${set.join(", ")}} may be set`);
      if (set.length === 0 && oneof.options?.["(validate.required)"] === true) {
        this.problems.push(`${at || name}: one of ${oneof.name} {${oneof.fieldsArray.map((f) => f.name).join(", ")}} is required`);
      }
    }
    for (const field of type.fieldsArray) {
      const rules = validateRules(field);
      const present = value[field.name] !== undefined && value[field.name] !== null;
      // `message.required`, and the well-known types' own `required` (e.g. KeepaliveSettings.timeout's `duration.required`).
      const required = [rules.message, rules.duration, rules.timestamp, rules.any].some((r) => isObject(r) && r.required === true);
      // Rules on a oneof member only apply when that member is the one set.
      if (!present && !field.partOf && required) {
        this.problems.push(`${at ? `${at}.` : ""}${field.name}: required in ${name}`);
      }
      if (present) this.rules(value[field.name], rules, `${at ? `${at}.` : ""}${field.name}`);
    }
    return out;
  }

  /** protoc-gen-validate rules: every kind that occurs on a field our configs set (see docs/envoy.md). */
  private rules(value: unknown, rules: Record<string, unknown>, at: string): void {
    const str = rules.string;
    if (isObject(str) && typeof value === "string") {
      if (typeof str.min_len === "number" && value.length < str.min_len) this.problems.push(`${at}: must have at least ${str.min_len} character(s)`);
      if (typeof str.max_len === "number" && value.length > str.max_len) this.problems.push(`${at}: must have at most ${str.max_len} character(s)`);
      const known = typeof str.well_known_regex === "string" ? WELL_KNOWN_REGEX[str.well_known_regex] : undefined;
      if (known && !known.test(value)) this.problems.push(`${at}: ${JSON.stringify(value)} is not a valid ${str.well_known_regex}`);
    }
    const rep = rules.repeated;
    if (isObject(rep) && Array.isArray(value)) {
      if (typeof rep.min_items === "number" && value.length < rep.min_items) this.problems.push(`${at}: needs at least ${rep.min_items} item(s)`);
      if (isObject(rep.items)) value.forEach((item, i) => this.rules(item, rep.items as Record<string, unknown>, `${at}[${i}]`));
    }
    const dur = rules.duration;
    if (isObject(dur) && typeof value === "string") {
      const seconds = durationSeconds(value);
      const bound = (b: unknown): number | undefined => (isObject(b) ? Number(b.seconds ?? 0) + Number(b.nanos ?? 0) / 1e9 : undefined);
      const [gt, gte, lt, lte] = [bound(dur.gt), bound(dur.gte), bound(dur.lt), bound(dur.lte)];
      if (seconds !== undefined) {
        if (gt !== undefined && !(seconds > gt)) this.problems.push(`${at}: must be longer than ${gt}s`);
        if (gte !== undefined && !(seconds >= gte)) this.problems.push(`${at}: must be at least ${gte}s`);
        if (lt !== undefined && !(seconds < lt)) this.problems.push(`${at}: must be shorter than ${lt}s`);
        if (lte !== undefined && !(seconds <= lte)) this.problems.push(`${at}: must be at most ${lte}s`);
      }
    }
    for (const kind of ["uint32", "int32", "uint64", "int64", "double"]) {
      const r = rules[kind];
      const n = typeof value === "string" ? Number(value) : value;
      if (!isObject(r) || typeof n !== "number") continue;
      if (typeof r.gt === "number" && !(n > r.gt)) this.problems.push(`${at}: must be > ${r.gt}`);
      if (typeof r.gte === "number" && !(n >= r.gte)) this.problems.push(`${at}: must be >= ${r.gte}`);
      if (typeof r.lt === "number" && !(n < r.lt)) this.problems.push(`${at}: must be < ${r.lt}`);
      if (typeof r.lte === "number" && !(n <= r.lte)) this.problems.push(`${at}: must be <= ${r.lte}`);
    }
  }

  private field(value: JsonValue, field: protobuf.Field, at: string): unknown {
    if (field.map) {
      if (!isObject(value)) {
        this.problems.push(`${at}: expected a map (object)`);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.single(v, field, `${at}[${JSON.stringify(k)}]`);
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        this.problems.push(`${at}: expected a list`);
        return undefined;
      }
      return value.map((v, i) => this.single(v, field, `${at}[${i}]`));
    }
    return this.single(value, field, at);
  }

  private single(value: JsonValue, field: protobuf.Field, at: string): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(value, resolved, at);
    if (resolved instanceof protobuf.Enum) return this.enumValue(value, resolved, at);
    return this.scalar(value, field.type, at);
  }

  private enumValue(value: JsonValue, e: protobuf.Enum, at: string): unknown {
    if (typeof value === "string" && value in e.values) return value;
    if (typeof value === "number" && Object.values(e.values).includes(value)) return value;
    this.problems.push(`${at}: ${JSON.stringify(value)} is not a value of enum ${e.name} (${Object.keys(e.values).join(", ")})`);
    return undefined;
  }

  private scalar(value: JsonValue, type: string, at: string): unknown {
    const fail = (): undefined => {
      this.problems.push(`${at}: ${JSON.stringify(value)} is not a valid ${type}`);
      return undefined;
    };
    if (type === "string") return typeof value === "string" ? value : fail();
    if (type === "bool") return typeof value === "boolean" ? value : fail();
    if (type === "bytes") return typeof value === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value) ? Buffer.from(value, "base64") : fail();
    if (type === "double" || type === "float") return typeof value === "number" ? value : fail();
    if (INT64_TYPES.has(type)) {
      const ok = (typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^-?\d+$/.test(value));
      if (!ok || (type.startsWith("u") || type === "fixed64") && String(value).startsWith("-")) return fail();
      return String(value);
    }
    const range = INT_RANGES[type];
    if (range) return typeof value === "number" && Number.isInteger(value) && value >= range[0] && value <= range[1] ? value : fail();
    return fail();
  }

  /** Types whose JSON form is not an object of their fields. `undefined` means "not well-known". */
  private wellKnown(value: unknown, name: string, at: string): { result: ProtoObject | undefined } | undefined {
    const wrapped = WRAPPERS[name];
    if (wrapped) {
      if (isObject(value)) {
        this.problems.push(`${at}: ${name} is written as a bare ${wrapped}, not an object`);
        return { result: undefined };
      }
      const v = this.scalar(value as JsonValue, wrapped, at);
      return { result: v === undefined ? undefined : { value: v } };
    }
    switch (name) {
      case "google.protobuf.Duration": {
        const m = typeof value === "string" ? DURATION_PATTERN.exec(value) : null;
        if (!m) {
          this.problems.push(`${at}: ${JSON.stringify(value)} is not a duration (write e.g. "5s" or "0.250s")`);
          return { result: undefined };
        }
        const sign = m[1] === "-" ? -1 : 1;
        return { result: { seconds: String(sign * Number(m[2])), nanos: sign * Number((m[3] ?? "").padEnd(9, "0")) } };
      }
      case "google.protobuf.Any":
        return { result: this.any(value, at) };
      case "google.protobuf.Struct":
        if (!isObject(value)) {
          this.problems.push(`${at}: expected an object (google.protobuf.Struct)`);
          return { result: undefined };
        }
        return { result: this.struct(value) };
      case "google.protobuf.Value":
        return { result: this.structValue(value as JsonValue) };
      case "google.protobuf.ListValue":
        if (!Array.isArray(value)) {
          this.problems.push(`${at}: expected a list (google.protobuf.ListValue)`);
          return { result: undefined };
        }
        return { result: { values: value.map((v) => this.structValue(v)) } };
      case "google.protobuf.Empty":
        if (!isObject(value) || Object.keys(value).length > 0) this.problems.push(`${at}: google.protobuf.Empty is written {}`);
        return { result: {} };
      case "google.protobuf.Timestamp":
      case "google.protobuf.FieldMask":
        this.problems.push(`${at}: ${name} is not supported by this checker`);
        return { result: undefined };
      default:
        return undefined;
    }
  }

  private struct(value: { [key: string]: JsonValue }): ProtoObject {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) fields[k] = this.structValue(v);
    return { fields };
  }

  private structValue(value: JsonValue): ProtoObject {
    if (value === null) return { null_value: "NULL_VALUE" };
    if (typeof value === "number") return { number_value: value };
    if (typeof value === "string") return { string_value: value };
    if (typeof value === "boolean") return { bool_value: value };
    if (Array.isArray(value)) return { list_value: { values: value.map((v) => this.structValue(v)) } };
    return { struct_value: this.struct(value) };
  }

  /** `{"@type": "type.googleapis.com/<message>", ...fields}`: the type must be loaded and its body parses too. */
  private any(value: unknown, at: string): ProtoObject | undefined {
    if (!isObject(value) || typeof value["@type"] !== "string") {
      this.problems.push(`${at}: a typed config needs "@type": "${TYPE_URL_PREFIX}<message name>"`);
      return undefined;
    }
    const typeUrl = value["@type"];
    const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
    const inner = envoyRoot().lookup(typeName);
    if (!typeUrl.startsWith(TYPE_URL_PREFIX) || !(inner instanceof protobuf.Type)) {
      this.problems.push(`${at}.@type: ${typeUrl} does not name a loaded message type`);
      return undefined;
    }
    const { "@type": _ignored, ...body } = value;
    void _ignored;
    // Well-known types inside an Any keep their JSON form under "value" (proto3 JSON mapping).
    const innerJson = fullName(inner).startsWith("google.protobuf.") && "value" in body ? body.value : body;
    const before = this.problems.length;
    const converted = this.message(innerJson, inner, at);
    if (this.problems.length > before || converted === undefined) return undefined;
    return { type_url: typeUrl, value: inner.encode(inner.fromObject(converted)).finish() };
  }
}

/**
 * Checks `json` against message `typeName` and returns the object protobufjs encodes.
 * Throws an EnvoyConfigError listing every problem found.
 */
export function toProtoObject(typeName: string, json: unknown): ProtoObject {
  const type = messageType(typeName);
  const checker = new Checker();
  const out = checker.message(json, type, "");
  if (checker.problems.length > 0 || out === undefined) throw new EnvoyConfigError(typeName, checker.problems);
  return out;
}

/** Checks and encodes one message. */
export function encodeMessage(typeName: string, json: unknown): Uint8Array {
  const type = messageType(typeName);
  return type.encode(type.fromObject(toProtoObject(typeName, json))).finish();
}

/** Checks and packs a resource as `google.protobuf.Any` (what a DiscoveryResponse carries). */
export function encodeAny(typeName: string, json: unknown): { type_url: string; value: Uint8Array } {
  return { type_url: TYPE_URL_PREFIX + typeName, value: encodeMessage(typeName, json) };
}
