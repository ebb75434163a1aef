import * as pulumi from "@pulumi/pulumi";
(async () => {
  const t = Date.now();
  const m = await pulumi.runtime.computeCodePaths({ extraExcludePackages: ["aws-sdk"] });
  console.log("ms", Date.now() - t, m.size);
  let i = 0;
  for (const [k, v] of m) { if (i++ < 5) console.log(k, v.constructor.name, JSON.stringify(v).slice(0, 200)); }
  const kinds = new Map<string, number>(); for (const v of m.values()) kinds.set(v.constructor.name, (kinds.get(v.constructor.name) ?? 0) + 1); console.log(kinds);
})();
