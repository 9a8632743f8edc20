import * as pulumi from "@pulumi/pulumi";
import { buildProbeBundle } from "../build/probe";

/**
 * The probe Lambda's code as a Pulumi archive: probe-lambda/ bundled by esbuild into one
 * `index.js` (handler `index.handler`), built when the program runs so preview and up always
 * ship the checked-out source. The Pulumi engine zips the archive's entries under their names.
 */
export async function probeAssetArchive(outDir: string): Promise<pulumi.asset.AssetArchive> {
  const { file } = await buildProbeBundle(outDir);
  return new pulumi.asset.AssetArchive({ "index.js": new pulumi.asset.FileAsset(file) });
}

export function probeCodeArchive(outDir: string): pulumi.Output<pulumi.asset.Archive> {
  return pulumi.output(probeAssetArchive(outDir));
}
