/**
 * A Pulumi AssetArchive zipped the way the Pulumi engine zips one for a provider (Lambda's `code`):
 * one entry per archive key, Deflate, a constant modification time of 1990-01-01 UTC, entries in
 * sorted order (pulumi/pulumi sdk/go/common/resource/asset: `archiveZIP` / `addNextFileToZIP`).
 * Only FileAsset and StringAsset entries are handled: the probe's archive has one FileAsset.
 * The engine itself is not here (no Pulumi CLI); yazl writes the same entries.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as yazl from "yazl";

const ENGINE_MTIME = new Date(Date.UTC(1990, 0, 1, 0, 0, 0));

export async function zipAssetArchive(archive: pulumi.asset.AssetArchive, zipFile: string): Promise<string[]> {
  const assets = await archive.assets;
  const names = Object.keys(assets).sort();
  const zip = new yazl.ZipFile();
  for (const name of names) {
    const asset = assets[name];
    if (asset instanceof pulumi.asset.FileAsset) {
      zip.addBuffer(fs.readFileSync(await asset.path), name, { mtime: ENGINE_MTIME, compress: true });
    } else if (asset instanceof pulumi.asset.StringAsset) {
      zip.addBuffer(Buffer.from(await asset.text), name, { mtime: ENGINE_MTIME, compress: true });
    } else {
      throw new Error(`archive entry ${name}: only FileAsset and StringAsset are zipped by this helper`);
    }
  }
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(fs.createWriteStream(zipFile)).on("close", resolve).on("error", reject);
  });
  return names;
}
