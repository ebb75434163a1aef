/**
 * `choreography-local` (the package's bin, through local/bin.js): serve any Pulumi TypeScript program, the one in
 * the current folder unless `--program DIR` names another. `--help` lists the flags.
 */
import { reportFailure, serve } from "./cli";

serve("bin", process.argv.slice(2)).catch(reportFailure("choreography-local"));
