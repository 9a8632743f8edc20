import * as pulumi from "@pulumi/pulumi";
import { buildProbeBundle } from "../probe-lambda/build";

/**
 * The probe Lambda's code as a Pulumi archive: probe-lambda/ bundled by esbuild into one
 * `index.js` (handler `index.handler`), built when the program runs so preview and up always
 * ship the checked-out source.
 */
export function probeCodeArchive(outDir: string): pulumi.Output<pulumi.asset.Archive> {
  return pulumi.output(buildProbeBundle(outDir).then(({ file }) =>
    new pulumi.asset.AssetArchive({ "index.js": new pulumi.asset.FileAsset(file) })));
}
