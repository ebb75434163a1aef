/**
 * `npm start`: evaluate this repository's stack under Pulumi's mocks, serve every declared resource, and keep
 * serving until interrupted or the parent process goes. Nothing is deployed: the program is evaluated, not
 * previewed or applied. `--help` lists the flags.
 */
import { reportFailure, serve } from "./cli";

serve("start", process.argv.slice(2)).catch(reportFailure("choreography"));
