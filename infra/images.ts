import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import type { EnvoyMode } from "./config";

/**
 * ECR repositories and the two images this project builds: the router (router/Dockerfile, context
 * the repository root: it bundles the package's sources) and Envoy with its generated config baked
 * in (envoy/Dockerfile, context envoy: it copies only the generated YAML and its entrypoint).
 */

/** Fargate tasks run X86_64 (the task definition's runtimePlatform); images are built to match. */
export const IMAGE_PLATFORM = "linux/amd64";

export interface ImageBuildSpec {
  readonly context: string;
  readonly dockerfile: string;
  readonly args: Record<string, string>;
  readonly platform: string;
}

/** Build inputs of the two images, relative to the repository root. */
export function imageBuildSpecs(repoRoot: string, envoyMode: EnvoyMode): { router: ImageBuildSpec; envoy: ImageBuildSpec } {
  return {
    router: { context: repoRoot, dockerfile: path.join(repoRoot, "router", "Dockerfile"), args: {}, platform: IMAGE_PLATFORM },
    envoy: { context: path.join(repoRoot, "envoy"), dockerfile: path.join(repoRoot, "envoy", "Dockerfile"), args: { ENVOY_MODE: envoyMode }, platform: IMAGE_PLATFORM },
  };
}

/** Keep the last 20 images: enough to roll back, without an ever-growing repository. */
export const ECR_LIFECYCLE_POLICY = {
  rules: [{
    rulePriority: 1,
    description: "keep the 20 most recent images",
    selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 20 },
    action: { type: "expire" },
  }],
};

export interface ImagesArgs {
  readonly repoRoot: string;
  readonly envoyMode: EnvoyMode;
  readonly tags?: Record<string, string>;
}

export class Images extends pulumi.ComponentResource {
  readonly routerImageUri: pulumi.Output<string>;
  readonly envoyImageUri: pulumi.Output<string>;
  readonly routerRepository: aws.ecr.Repository;
  readonly envoyRepository: aws.ecr.Repository;

  constructor(name: string, args: ImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:Images", name, {}, opts);
    const specs = imageBuildSpecs(args.repoRoot, args.envoyMode);
    const repository = (suffix: string): aws.ecr.Repository => {
      const repo = new aws.ecr.Repository(`${name}-${suffix}`, {
        imageScanningConfiguration: { scanOnPush: true },
        imageTagMutability: "MUTABLE", // awsx tags each build; the task definition pins the digest
        forceDelete: true,
        tags: args.tags,
      }, { parent: this });
      new aws.ecr.LifecyclePolicy(`${name}-${suffix}`, { repository: repo.name, policy: JSON.stringify(ECR_LIFECYCLE_POLICY) }, { parent: this });
      return repo;
    };
    this.routerRepository = repository("router");
    this.envoyRepository = repository("envoy");

    const image = (suffix: string, repo: aws.ecr.Repository, spec: ImageBuildSpec): awsx.ecr.Image =>
      new awsx.ecr.Image(`${name}-${suffix}`, { repositoryUrl: repo.repositoryUrl, ...spec }, { parent: this });
    this.routerImageUri = image("router", this.routerRepository, specs.router).imageUri;
    this.envoyImageUri = image("envoy", this.envoyRepository, specs.envoy).imageUri;
    this.registerOutputs({ routerImageUri: this.routerImageUri, envoyImageUri: this.envoyImageUri });
  }
}
