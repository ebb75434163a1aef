import * as pulumi from "/work/main/node_modules/@pulumi/pulumi";
import { bundleSerializedClosure } from "/work/main/components/closureArchive";
import * as fs from "fs";
process.env.EVENT_BUS="b"; 
(async () => {
  const names = ["getMultiple","processSingle","postProcessSingle","sideEffect","postProcessAll"];
  for (const n of names) {
    const t0 = Date.now();
    const mod = require(`/work/main/handlers/${n}`);
    const t1 = Date.now();
    const c = await pulumi.runtime.serializeFunction(mod[`${n}Factory`], { serialize: () => true, exportName: "handler", isFactoryFunction: true, allowSecrets: true });
    const t2 = Date.now();
    const b = await bundleSerializedClosure(c.text, { bundleAwsSdk: false });
    const t3 = Date.now();
    fs.writeFileSync(`/tmp/scratch/${n}.closure.js`, c.text);
    console.log(n, "require", t1-t0, "serialize", t2-t1, "bundle", t3-t2, c.text.length);
  }
})();
