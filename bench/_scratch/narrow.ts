import * as esbuild from "esbuild";
import * as fs from "fs";
const text = fs.readFileSync(process.argv[2], "utf8");
const names = new Map<string, Set<string>>();
let i = 0;
const rewritten = text.replace(/^const ([A-Za-z_$][\w$]*) = require\("([^"]+)"\);$/gm, (line, name: string, spec: string) => {
  if (/^@(aws-sdk|smithy|aws-crypto)\//.test(spec)) return line;
  const used = new Set<string>();
  const re = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, "\\$")}(?![\\w$])(\\.([A-Za-z_$][\\w$]*))?`, "g");
  let m; let ok = true; let n = 0;
  while ((m = re.exec(text))) { n++; if (n === 1) continue; if (!m[2]) { ok = false; break; } used.add(m[2]); }
  if (!ok) return line;
  const id = `closure-import:${i++}`; names.set(id, used); (names as any).spec = spec; (used as any).spec = spec;
  return `const ${name} = require("${id}");`;
});
(async () => {
  const r = await esbuild.build({
    stdin: { contents: rewritten, resolveDir: "/work/main", sourcefile: "closure.js", loader: "js" },
    bundle: true, platform: "node", target: "node22", format: "cjs", mainFields: ["module", "main"], minify: true, legalComments: "none", write: false, outfile: "__index.js", sourcemap: "external",
    external: ["@aws-sdk/*", "@smithy/*", "@aws-crypto/*"], logLevel: "warning",
    plugins: [{ name: "n", setup(b) {
      b.onResolve({ filter: /^closure-import:/ }, (a) => ({ path: a.path, namespace: "closure-import" }));
      b.onLoad({ filter: /.*/, namespace: "closure-import" }, (a) => { const u = names.get(a.path)!; return { contents: `export { ${[...u].join(", ")} } from ${JSON.stringify((u as any).spec)};`, resolveDir: "/work/main", loader: "js" }; });
    } }],
  });
  for (const f of r.outputFiles) console.log(f.path, f.contents.length);
  console.log([...names].map(([k, v]) => k + " " + (v as any).spec + " " + [...v]));
})();
