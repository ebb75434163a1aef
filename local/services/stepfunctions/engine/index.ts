/**
 * The local Step Functions engine: an Amazon States Language interpreter (JSONPath and JSONata, variables,
 * intrinsics, Retry/Catch, Map/Parallel) with no I/O of its own. The host runs Task calls and records history
 * through EngineHooks.
 */
export { runExecution, TASK_TIMED_OUT } from "./interpreter";
export { definitionDiagnostics, validateDefinition } from "./validate";
export {
    InvalidDefinitionError,
    StatesError,
    type ContextObject,
    type DefinitionDiagnostic,
    type EngineHooks,
    type EventOrigin,
    type ExecutionResult,
    type HistoryEvent,
    type JsonObject,
    type JsonValue,
    type RunOptions,
    type TaskCall,
} from "./types";
