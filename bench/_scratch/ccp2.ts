import * as pulumi from "@pulumi/pulumi";
(async () => {
  const m = await pulumi.runtime.computeCodePaths({ extraExcludePackages: ["aws-sdk"] });
  for (const [k, v] of m) console.log(k, await (v as pulumi.asset.FileArchive).path);
})();
