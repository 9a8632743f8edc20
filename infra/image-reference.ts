/**
 * Container image references (`[registry/]repository[:tag][@digest]`, the grammar of
 * distribution/reference) and whether one pins what ECS runs. ECS resolves a tag to a digest
 * when it starts a task, so a task definition naming `:latest` never changes when the image
 * does: `pulumi up` shows no diff, running tasks keep the old image and tasks started later
 * (scale-out, replacement) get the new one.
 */

export interface ImageReference {
  /** Registry and repository, e.g. `ghcr.io/pixell-global/pixell-agent-runtime`. */
  readonly name: string;
  readonly tag?: string;
  /** `sha256:<64 hex>` when the reference carries a digest. */
  readonly digest?: string;
}

/** Split a reference; the tag is the part after a colon in the last path component (a registry's `host:port` is not a tag). */
export function parseImageReference(ref: string): ImageReference {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = rest.indexOf(":", rest.lastIndexOf("/") + 1);
  if (colon < 0) return digest === undefined ? { name: rest } : { name: rest, digest };
  const tag = rest.slice(colon + 1);
  return digest === undefined ? { name: rest.slice(0, colon), tag } : { name: rest.slice(0, colon), tag, digest };
}

/** digest: pinned exactly; tag: pinned by convention (a release tag); latest / untagged (= latest): not pinned. */
export type ImagePin = "digest" | "tag" | "latest" | "untagged";

export function imagePin(ref: string): ImagePin {
  const { tag, digest } = parseImageReference(ref);
  if (digest !== undefined) return "digest"; // `repo:latest@sha256:…` runs the digest, whatever the tag says
  if (tag === undefined) return "untagged";
  return tag === "latest" ? "latest" : "tag";
}

/** An Amazon ECR private registry (`<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`): pulled with the execution role, never with registry credentials. */
export function isEcrImage(ref: string): boolean {
  return /^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//.test(ref);
}
