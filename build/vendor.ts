/**
 * The packages the router loads only when a feature asks for them (the AWS SDK clients for Cloud Map
 * and Secrets Manager; grpc-js and protobufjs for xDS and the live health check) go into files beside
 * main.js instead of into it. Node keeps a script's whole source text in the heap and pre-parses all of
 * it at load, lazily required or not: these packages are three quarters of the bundle, so leaving them
 * out is ~6 MiB of anonymous memory every router saves until it needs them
 * (docs/decisions/router-memory.md).
 *
 * Each group is one file, so packages that share dependencies (the two SDK clients share @smithy/*) carry
 * them once; a group's packages stay behind getters inside it, so loading one does not start the others.
 * Each package gets a one-line file main.js requires by a relative path, so the router's code keeps its
 * ordinary `require("@aws-sdk/client-secrets-manager")` and its types.
 */
import * as path from "node:path";
import type * as esbuild from "esbuild";

/** Where the group files and the per-package stubs go, beside main.js. */
export const VENDOR_DIR = "vendor";

/** Each group: its file's name and the packages (bare specifiers) it carries. */
export const VENDOR_GROUPS: Readonly<Record<string, readonly string[]>> = {
  aws: ["@aws-sdk/client-servicediscovery", "@aws-sdk/client-secrets-manager"],
  grpc: ["@grpc/grpc-js", "@grpc/proto-loader", "protobufjs"],
};

/** The stub's file name for a package: scope and name joined, e.g. @grpc/grpc-js → grpc__grpc-js.js. */
export function stubFileName(pkg: string): string {
  return `${pkg.replace(/^@/, "").replace(/\//g, "__")}.js`;
}

/** The specifier main.js requires a vendored package by (relative to main.js). */
export function vendoredSpecifier(pkg: string): string {
  return `./${VENDOR_DIR}/${stubFileName(pkg)}`;
}

/** The entry source of a group's file: one lazy getter per package. */
export function groupEntrySource(packages: readonly string[]): string {
  return packages.map((p) => `Object.defineProperty(exports, ${JSON.stringify(p)}, { enumerable: true, get: () => require(${JSON.stringify(p)}) });`).join("\n") + "\n";
}

/** A stub's source: the package, from its group's file. */
export function stubSource(group: string, pkg: string): string {
  return `"use strict";\nmodule.exports = require("./${group}.js")[${JSON.stringify(pkg)}];\n`;
}

/**
 * The main bundle's plugin: a vendored package (its bare name only; a deep import such as
 * "protobufjs/package.json" is left to esbuild) resolves to its stub, kept external.
 */
export function vendorExternals(): esbuild.Plugin {
  const names = Object.values(VENDOR_GROUPS).flat();
  const filter = new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|")})$`);
  return {
    name: "vendor-externals",
    setup(build) {
      build.onResolve({ filter }, (args) => ({ path: vendoredSpecifier(args.path), external: true }));
    },
  };
}

/** Every file the vendor step writes, relative to the bundle's directory (forward slashes), sorted. */
export function vendorFiles(): string[] {
  return Object.entries(VENDOR_GROUPS)
    .flatMap(([group, pkgs]) => [`${VENDOR_DIR}/${group}.js`, ...pkgs.map((p) => `${VENDOR_DIR}/${stubFileName(p)}`)])
    .sort();
}

/** The directory a group is built into, for callers that write it. */
export function vendorDir(outDir: string): string {
  return path.join(outDir, VENDOR_DIR);
}
