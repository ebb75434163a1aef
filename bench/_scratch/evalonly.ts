const t0 = Date.now();
import { evaluateStack } from "../../local/evaluate";
(async () => {
  const t1 = Date.now();
  const s = await evaluateStack();
  console.log("import ms", t1 - t0, "eval ms", Date.now() - t1, s.resources.length);
})();
