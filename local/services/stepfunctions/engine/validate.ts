/**
 * Definition checks: the States Language's structure per state type and query language, paths, intrinsics
 * and JSONata expressions that parse, transition targets, Retry/Catch shape, variable scopes; and, under
 * LOCAL_RUNTIME_UNSUPPORTED, everything this engine does not implement (it refuses rather than runs wrongly).
 */
import { ALL_OPERATORS, isTimestamp } from "./choice";
import { IntrinsicSyntaxError, looksLikeIntrinsic, parseIntrinsic } from "./intrinsics";
import { compileJsonata, expressionText, isJsonataExpression } from "./jsonataEval";
import { JsonPathSyntaxError, parsePath } from "./jsonPath";
import { InvalidDefinitionError, isPlainObject, type DefinitionDiagnostic, type JsonObject } from "./types";

type Language = "JSONPath" | "JSONata";

const COMMON = ["Type", "Comment", "QueryLanguage"];
const JSONPATH_IO = ["InputPath", "OutputPath"];
const FIELDS: Record<string, { both: string[]; jsonPath: string[]; jsonata: string[] }> = {
    Pass: { both: ["Next", "End", "Assign"], jsonPath: [...JSONPATH_IO, "Parameters", "ResultPath", "Result"], jsonata: ["Output"] },
    Task: {
        both: ["Next", "End", "Assign", "Resource", "TimeoutSeconds", "HeartbeatSeconds", "Retry", "Catch", "Credentials"],
        jsonPath: [...JSONPATH_IO, "Parameters", "ResultSelector", "ResultPath", "TimeoutSecondsPath", "HeartbeatSecondsPath"],
        jsonata: ["Arguments", "Output"],
    },
    Choice: { both: ["Choices", "Default", "Assign"], jsonPath: JSONPATH_IO, jsonata: ["Output"] },
    Wait: { both: ["Next", "End", "Assign", "Seconds", "Timestamp"], jsonPath: [...JSONPATH_IO, "SecondsPath", "TimestampPath"], jsonata: ["Output"] },
    Succeed: { both: [], jsonPath: JSONPATH_IO, jsonata: ["Output"] },
    Fail: { both: ["Error", "Cause"], jsonPath: ["ErrorPath", "CausePath"], jsonata: [] },
    Parallel: { both: ["Next", "End", "Assign", "Branches", "Retry", "Catch"], jsonPath: [...JSONPATH_IO, "Parameters", "ResultSelector", "ResultPath"], jsonata: ["Arguments", "Output"] },
    Map: {
        both: ["Next", "End", "Assign", "ItemProcessor", "Iterator", "ItemSelector", "MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage", "Retry", "Catch"],
        jsonPath: [...JSONPATH_IO, "Parameters", "ResultSelector", "ResultPath", "ItemsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"],
        jsonata: ["Items", "Output"],
    },
};
/** Fields AWS has that this engine does not run. */
const UNSUPPORTED: Record<string, string[]> = { Map: ["ItemReader", "ResultWriter", "ItemBatcher", "Label"] };

class Checker {
    readonly diagnostics: DefinitionDiagnostic[] = [];
    /** State names across the whole machine: the States Language has them unique "within the scope of the whole state machine". */
    private readonly stateNamesSeen = new Set<string>();

    add(code: string, message: string, path: string): void {
        this.diagnostics.push({ code, message, path });
    }
    schema(message: string, path: string): void {
        this.add("SCHEMA_VALIDATION_FAILED", message, path);
    }

    path(value: unknown, path: string, opts: { reference?: boolean; nullable?: boolean; allowVariables?: boolean } = {}): void {
        if (value === null && opts.nullable) return;
        if (typeof value !== "string") return this.schema(`The value of the field must be a JSONPath string`, path);
        try {
            const parsed = parsePath(value);
            const rootAllowed = parsed.root === "input" || opts.allowVariables === true;
            if (opts.reference && (!parsed.reference || !rootAllowed)) this.add("INVALID_JSON_PATH", `The value for the field must be a valid Reference Path: ${value}`, path);
            if (!opts.allowVariables && parsed.root === "variable" && opts.reference) this.add("INVALID_JSON_PATH", `Variables cannot be used here: ${value}`, path);
        } catch (e) {
            if (e instanceof JsonPathSyntaxError) this.add("INVALID_JSON_PATH", `Invalid JSONPath: ${value} (${e.message})`, path);
            else throw e;
        }
    }

    pathOrIntrinsic(value: unknown, path: string): void {
        if (typeof value === "string" && looksLikeIntrinsic(value)) {
            try {
                parseIntrinsic(value.trim());
            } catch (e) {
                if (e instanceof IntrinsicSyntaxError || e instanceof JsonPathSyntaxError) this.add("INVALID_INTRINSIC_FUNCTION", `${e.message}: ${value}`, path);
                else throw e;
            }
            return;
        }
        this.path(value, path, { allowVariables: true });
    }

    /** Parameters / ResultSelector / ItemSelector / Assign in JSONPath states. */
    payloadTemplate(value: unknown, path: string): void {
        if (Array.isArray(value)) value.forEach((v, i) => this.payloadTemplate(v, `${path}[${i}]`));
        if (!isPlainObject(value)) return;
        // A field and the same field with ".$" would name one output field twice (the spec forbids it).
        const names = new Set<string>();
        for (const key of Object.keys(value)) {
            const name = key.endsWith(".$") ? key.slice(0, -2) : key;
            if (names.has(name)) this.schema(`The field '${name}' appears twice in the payload template (once with '.$')`, `${path}/${key}`);
            names.add(name);
        }
        for (const [key, v] of Object.entries(value)) {
            if (key.endsWith(".$")) {
                if (typeof v !== "string") this.schema(`The value of the field '${key}' must be a JSONPath or an intrinsic function`, `${path}/${key}`);
                else this.pathOrIntrinsic(v, `${path}/${key}`);
            } else this.payloadTemplate(v, `${path}/${key}`);
        }
    }

    jsonataTemplate(value: unknown, path: string): void {
        if (isJsonataExpression(value)) {
            try {
                compileJsonata(expressionText(value));
            } catch (e) {
                this.add("INVALID_JSONATA", `The JSONata expression is not valid: ${(e as Error).message}`, path);
            }
        } else if (Array.isArray(value)) value.forEach((v, i) => this.jsonataTemplate(v, `${path}[${i}]`));
        else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) this.jsonataTemplate(v, `${path}/${k}`);
    }

    /** A number field that JSONata states may also give as an expression. */
    numberField(value: unknown, path: string, language: Language, check: (n: number) => boolean, what: string): void {
        if (language === "JSONata" && isJsonataExpression(value)) return this.jsonataTemplate(value, path);
        if (typeof value !== "number" || !check(value)) this.schema(`The value of the field must be ${what}`, path);
    }

    assign(value: unknown, path: string, language: Language, names: Set<string>): void {
        if (!isPlainObject(value)) return this.schema("The field 'Assign' must be an object", path);
        for (const [key, v] of Object.entries(value)) {
            const name = language === "JSONPath" && key.endsWith(".$") ? key.slice(0, -2) : key;
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name === "states") this.schema(`The variable name '${name}' is not valid`, `${path}/${key}`);
            if (language === "JSONPath" && key.endsWith(".$")) {
                if (typeof v !== "string") this.schema(`The value of the field '${key}' must be a JSONPath or an intrinsic function`, `${path}/${key}`);
                else this.pathOrIntrinsic(v, `${path}/${key}`);
            } else if (language === "JSONPath") this.payloadTemplate(v, `${path}/${key}`);
            else this.jsonataTemplate(v, `${path}/${key}`);
            names.add(name);
        }
    }

    retriersAndCatchers(state: JsonObject, path: string, stateNames: Set<string>, language: Language, names: Set<string>): void {
        const errorEquals = (list: unknown, at: string, last: boolean) => {
            if (!Array.isArray(list) || list.length === 0 || !list.every((e) => typeof e === "string")) return this.schema("ErrorEquals must be a non-empty array of strings", `${at}/ErrorEquals`);
            if (list.includes("States.ALL") && (list.length > 1 || !last)) this.schema("States.ALL must appear alone, in the last element", `${at}/ErrorEquals`);
        };
        if (state.Retry !== undefined) {
            if (!Array.isArray(state.Retry)) this.schema("Retry must be an array", `${path}/Retry`);
            else
                state.Retry.forEach((r, i) => {
                    const at = `${path}/Retry[${i}]`;
                    if (!isPlainObject(r)) return this.schema("A retrier must be an object", at);
                    for (const k of Object.keys(r)) if (!["ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"].includes(k)) this.schema(`The field '${k}' is not supported by Step Functions`, `${at}/${k}`);
                    errorEquals(r.ErrorEquals, at, i === (state.Retry as unknown[]).length - 1);
                    if (r.IntervalSeconds !== undefined && !(Number.isInteger(r.IntervalSeconds) && (r.IntervalSeconds as number) >= 1)) this.schema("IntervalSeconds must be a positive integer", `${at}/IntervalSeconds`);
                    if (r.MaxAttempts !== undefined && !(Number.isInteger(r.MaxAttempts) && (r.MaxAttempts as number) >= 0 && (r.MaxAttempts as number) <= 99999999)) this.schema("MaxAttempts must be a non-negative integer", `${at}/MaxAttempts`);
                    if (r.BackoffRate !== undefined && !(typeof r.BackoffRate === "number" && r.BackoffRate >= 1)) this.schema("BackoffRate must be a number not less than 1.0", `${at}/BackoffRate`);
                    if (r.MaxDelaySeconds !== undefined && !(Number.isInteger(r.MaxDelaySeconds) && (r.MaxDelaySeconds as number) >= 1)) this.schema("MaxDelaySeconds must be a positive integer", `${at}/MaxDelaySeconds`);
                    if (r.JitterStrategy !== undefined && r.JitterStrategy !== "FULL" && r.JitterStrategy !== "NONE") this.schema("JitterStrategy must be FULL or NONE", `${at}/JitterStrategy`);
                });
        }
        if (state.Catch !== undefined) {
            if (!Array.isArray(state.Catch)) this.schema("Catch must be an array", `${path}/Catch`);
            else
                state.Catch.forEach((c, i) => {
                    const at = `${path}/Catch[${i}]`;
                    if (!isPlainObject(c)) return this.schema("A catcher must be an object", at);
                    const allowed = ["ErrorEquals", "Next", "Comment", "Assign", ...(language === "JSONPath" ? ["ResultPath"] : ["Output"])];
                    for (const k of Object.keys(c)) if (!allowed.includes(k)) this.schema(`The field '${k}' is not supported by Step Functions`, `${at}/${k}`);
                    errorEquals(c.ErrorEquals, at, i === (state.Catch as unknown[]).length - 1);
                    this.target(c.Next, `${at}/Next`, stateNames);
                    if (c.ResultPath !== undefined) this.path(c.ResultPath, `${at}/ResultPath`, { reference: true, nullable: true });
                    if (c.Output !== undefined) this.jsonataTemplate(c.Output, `${at}/Output`);
                    if (c.Assign !== undefined) this.assign(c.Assign, `${at}/Assign`, language, names);
                });
        }
    }

    target(next: unknown, path: string, stateNames: Set<string>): void {
        if (typeof next !== "string") return this.schema("The value of the field 'Next' must be a state name", path);
        if (!stateNames.has(next)) this.add("MISSING_TRANSITION_TARGET", `Missing 'Next' target: ${next}`, path);
    }

    choiceRule(rule: unknown, path: string, top: boolean, stateNames: Set<string>, language: Language, names: Set<string>): void {
        if (!isPlainObject(rule)) return this.schema("A choice rule must be an object", path);
        if (top) {
            this.target(rule.Next, `${path}/Next`, stateNames);
            if (rule.Assign !== undefined) this.assign(rule.Assign, `${path}/Assign`, language, names);
        } else if (rule.Next !== undefined) this.schema("Nested choice rules cannot have 'Next'", `${path}/Next`);
        if (language === "JSONata") {
            for (const k of Object.keys(rule)) if (!["Condition", "Next", "Comment", "Assign", "Output"].includes(k)) this.schema(`The field '${k}' is not supported by Step Functions`, `${path}/${k}`);
            if (rule.Condition === undefined) return this.schema("A JSONata choice rule must have 'Condition'", path);
            if (typeof rule.Condition === "boolean") return;
            if (!isJsonataExpression(rule.Condition)) return this.schema("Condition must be a JSONata expression or a boolean", `${path}/Condition`);
            this.jsonataTemplate(rule.Condition, `${path}/Condition`);
            if (rule.Output !== undefined) this.jsonataTemplate(rule.Output, `${path}/Output`);
            return;
        }
        const extra = Object.keys(rule).filter((k) => !["Next", "Comment", "Assign"].includes(k));
        if (rule.And !== undefined || rule.Or !== undefined) {
            const key = rule.And !== undefined ? "And" : "Or";
            if (extra.length !== 1) return this.schema(`A choice rule with '${key}' cannot have other conditions`, path);
            const list = rule[key];
            if (!Array.isArray(list) || list.length === 0) return this.schema(`'${key}' must be a non-empty array of choice rules`, `${path}/${key}`);
            list.forEach((r, i) => this.choiceRule(r, `${path}/${key}[${i}]`, false, stateNames, language, names));
            return;
        }
        if (rule.Not !== undefined) {
            if (extra.length !== 1) return this.schema("A choice rule with 'Not' cannot have other conditions", path);
            return this.choiceRule(rule.Not, `${path}/Not`, false, stateNames, language, names);
        }
        if (rule.Variable === undefined) return this.schema("A choice rule must have 'Variable' or be And/Or/Not", path);
        this.path(rule.Variable, `${path}/Variable`, { allowVariables: true });
        const operators = extra.filter((k) => k !== "Variable");
        if (operators.length !== 1 || !ALL_OPERATORS.includes(operators[0])) {
            return this.schema(`A choice rule must have exactly one comparison operator, found ${operators.length ? operators.join(", ") : "none"}`, path);
        }
        const op = operators[0];
        const v = rule[op];
        const at = `${path}/${op}`;
        if (op.endsWith("Path")) this.path(v, at, { allowVariables: true });
        else if (op.startsWith("Is") || op === "BooleanEquals") {
            if (typeof v !== "boolean") this.schema(`The value of '${op}' must be a boolean`, at);
        } else if (op.startsWith("String")) {
            if (typeof v !== "string") this.schema(`The value of '${op}' must be a string`, at);
        } else if (op.startsWith("Numeric")) {
            if (typeof v !== "number") this.schema(`The value of '${op}' must be a number`, at);
        } else if (op.startsWith("Timestamp")) {
            if (typeof v !== "string" || !isTimestamp(v)) this.schema(`The value of '${op}' must be an ISO-8601 timestamp`, at);
        }
    }

    /** Checks a StartAt/States block; returns the variable names its states assign (its own scope). */
    machine(def: unknown, path: string, language: Language, outerNames: Set<string>, top: boolean): void {
        if (!isPlainObject(def)) return this.schema("The definition must be a JSON object", path || "/");
        const allowedTop = top ? ["StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"] : ["StartAt", "States", "Comment", "ProcessorConfig", "QueryLanguage"];
        for (const k of Object.keys(def)) if (!allowedTop.includes(k)) this.schema(`The field '${k}' is not supported by Step Functions`, `${path}/${k}`);
        if (def.Comment !== undefined && typeof def.Comment !== "string") this.schema("The field 'Comment' must be a string", `${path}/Comment`);
        if (def.QueryLanguage !== undefined) {
            if (def.QueryLanguage !== "JSONPath" && def.QueryLanguage !== "JSONata") this.schema("QueryLanguage must be JSONPath or JSONata", `${path}/QueryLanguage`);
            else if (!top) {
                // A nested machine may not reset the language to JSONPath under a JSONata parent (AWS refuses).
                if (language === "JSONata" && def.QueryLanguage === "JSONPath") this.schema("A JSONPath state machine block cannot be nested in a JSONata one", `${path}/QueryLanguage`);
                language = def.QueryLanguage;
            } else language = def.QueryLanguage;
        }
        if (top && def.TimeoutSeconds !== undefined && !(Number.isInteger(def.TimeoutSeconds) && (def.TimeoutSeconds as number) > 0)) this.schema("TimeoutSeconds must be a positive integer", `${path}/TimeoutSeconds`);
        if (top && def.Version !== undefined && def.Version !== "1.0") this.schema("Version must be '1.0'", `${path}/Version`);
        if (!isPlainObject(def.States) || Object.keys(def.States).length === 0) return this.schema("The field 'States' must be a non-empty object", `${path}/States`);
        const stateNames = new Set(Object.keys(def.States));
        if (typeof def.StartAt !== "string") this.schema("The field 'StartAt' must be a state name", `${path}/StartAt`);
        else if (!stateNames.has(def.StartAt)) this.add("MISSING_TRANSITION_TARGET", `Missing 'StartAt' target: ${def.StartAt}`, `${path}/StartAt`);
        const ownNames = new Set<string>();
        const nested: [unknown, string, Language][] = [];
        for (const [name, state] of Object.entries(def.States)) {
            const at = `${path}/States/${name}`;
            if (name.length === 0 || name.length > 80) this.schema("A state name must be 1 to 80 characters long", at);
            if (this.stateNamesSeen.has(name)) this.add("DUPLICATE_STATE_NAME", `Duplicate State name: '${name}'`, at);
            this.stateNamesSeen.add(name);
            if (!isPlainObject(state)) {
                this.schema("A state must be a JSON object", at);
                continue;
            }
            this.state(name, state, at, language, stateNames, ownNames, nested);
        }
        for (const name of ownNames) {
            if (outerNames.has(name)) this.schema(`The variable '${name}' is defined in an outer scope and cannot be assigned in a nested one`, `${path}/States`);
        }
        const visible = new Set([...outerNames, ...ownNames]);
        for (const [inner, innerPath, innerLanguage] of nested) this.machine(inner, innerPath, innerLanguage, visible, false);
    }

    state(name: string, state: JsonObject, at: string, parentLanguage: Language, stateNames: Set<string>, names: Set<string>, nested: [unknown, string, Language][]): void {
        const type = state.Type;
        if (typeof type !== "string" || !FIELDS[type]) return this.schema(`The field 'Type' must be one of ${Object.keys(FIELDS).join(", ")}`, `${at}/Type`);
        let language = parentLanguage;
        if (state.QueryLanguage !== undefined) {
            if (state.QueryLanguage !== "JSONPath" && state.QueryLanguage !== "JSONata") this.schema("QueryLanguage must be JSONPath or JSONata", `${at}/QueryLanguage`);
            else language = state.QueryLanguage;
        }
        if (state.Comment !== undefined && typeof state.Comment !== "string") this.schema("The field 'Comment' must be a string", `${at}/Comment`);
        const table = FIELDS[type];
        const allowed = [...COMMON, ...table.both, ...(language === "JSONPath" ? table.jsonPath : table.jsonata)];
        for (const k of Object.keys(state)) {
            if (allowed.includes(k)) continue;
            if ((UNSUPPORTED[type] ?? []).includes(k)) this.add("LOCAL_RUNTIME_UNSUPPORTED", `The field '${k}' of a ${type} state is not supported by the local runtime`, `${at}/${k}`);
            else if (language === "JSONata" && [...table.jsonPath, "ResultSelector", "Parameters"].includes(k)) this.schema(`The field '${k}' is not supported for states with QueryLanguage JSONata`, `${at}/${k}`);
            else if (language === "JSONPath" && [...table.jsonata, "Arguments", "Output", "Items"].includes(k)) this.schema(`The field '${k}' is only supported for states with QueryLanguage JSONata`, `${at}/${k}`);
            else this.schema(`The field '${k}' is not supported by Step Functions`, `${at}/${k}`);
        }
        const terminal = type === "Succeed" || type === "Fail" || type === "Choice";
        if (!terminal) {
            if (state.Next !== undefined && state.End !== undefined) this.schema("A state cannot have both 'Next' and 'End'", at);
            else if (state.Next !== undefined) this.target(state.Next, `${at}/Next`, stateNames);
            else if (state.End !== true) this.schema("A state must have 'Next' or 'End': true", at);
        }
        for (const f of ["InputPath", "OutputPath"]) if (state[f] !== undefined) this.path(state[f], `${at}/${f}`, { nullable: true, allowVariables: true });
        if (state.ResultPath !== undefined) this.path(state.ResultPath, `${at}/ResultPath`, { reference: true, nullable: true });
        for (const f of ["Parameters", "ResultSelector", "ItemSelector"]) {
            if (state[f] === undefined) continue;
            // The States Language: "The value of Parameters MUST be a Payload Template, which is a JSON object".
            if (language === "JSONPath" && !isPlainObject(state[f])) this.schema(`The field '${f}' must be a JSON object (a payload template)`, `${at}/${f}`);
            if (language === "JSONPath") this.payloadTemplate(state[f], `${at}/${f}`);
            else this.jsonataTemplate(state[f], `${at}/${f}`);
        }
        for (const f of ["Arguments", "Output", "Items"]) if (state[f] !== undefined) this.jsonataTemplate(state[f], `${at}/${f}`);
        if (type === "Map" && state.Items !== undefined && !Array.isArray(state.Items) && !isJsonataExpression(state.Items)) this.schema("Items must be an array or a JSONata expression", `${at}/Items`);
        if (state.Assign !== undefined) this.assign(state.Assign, `${at}/Assign`, language, names);
        const positive = (n: number) => Number.isInteger(n) && n > 0;
        if (state.TimeoutSeconds !== undefined) this.numberField(state.TimeoutSeconds, `${at}/TimeoutSeconds`, language, (n) => positive(n) && n <= 99999999, "a positive integer");
        if (state.HeartbeatSeconds !== undefined) this.numberField(state.HeartbeatSeconds, `${at}/HeartbeatSeconds`, language, (n) => positive(n) && n <= 99999999, "a positive integer");
        if (state.TimeoutSeconds !== undefined && state.TimeoutSecondsPath !== undefined) this.schema("TimeoutSeconds and TimeoutSecondsPath are mutually exclusive", at);
        if (state.HeartbeatSeconds !== undefined && state.HeartbeatSecondsPath !== undefined) this.schema("HeartbeatSeconds and HeartbeatSecondsPath are mutually exclusive", at);
        if (typeof state.TimeoutSeconds === "number" && typeof state.HeartbeatSeconds === "number" && state.HeartbeatSeconds >= state.TimeoutSeconds) this.schema("HeartbeatSeconds must be smaller than TimeoutSeconds", `${at}/HeartbeatSeconds`);
        for (const f of ["TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ItemsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"]) {
            // Each names one value: a Reference Path (no wildcards, filters or slices), of the input, a variable or the context.
            if (state[f] !== undefined) this.path(state[f], `${at}/${f}`, { reference: true, allowVariables: true });
        }
        switch (type) {
            case "Task":
                if (typeof state.Resource !== "string" || state.Resource.length === 0) this.schema("The field 'Resource' must be a non-empty string", `${at}/Resource`);
                break;
            case "Choice":
                if (!Array.isArray(state.Choices) || state.Choices.length === 0) this.schema("The field 'Choices' must be a non-empty array", `${at}/Choices`);
                else state.Choices.forEach((r, i) => this.choiceRule(r, `${at}/Choices[${i}]`, true, stateNames, language, names));
                if (state.Default !== undefined) this.target(state.Default, `${at}/Default`, stateNames);
                break;
            case "Wait": {
                const given = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"].filter((f) => state[f] !== undefined);
                if (given.length !== 1) this.schema("A Wait state must have exactly one of Seconds, Timestamp, SecondsPath, TimestampPath", at);
                if (state.Seconds !== undefined) this.numberField(state.Seconds, `${at}/Seconds`, language, (n) => Number.isInteger(n) && n >= 0 && n <= 99999999, "a non-negative integer");
                if (state.Timestamp !== undefined && !(language === "JSONata" && isJsonataExpression(state.Timestamp)) && !isTimestamp(state.Timestamp)) this.schema("Timestamp must be an RFC3339 timestamp such as 2016-03-14T01:59:00Z (uppercase T and Z)", `${at}/Timestamp`);
                if (language === "JSONata" && isJsonataExpression(state.Timestamp)) this.jsonataTemplate(state.Timestamp, `${at}/Timestamp`);
                break;
            }
            case "Fail":
                if (state.Error !== undefined && state.ErrorPath !== undefined) this.schema("Error and ErrorPath are mutually exclusive", at);
                if (state.Cause !== undefined && state.CausePath !== undefined) this.schema("Cause and CausePath are mutually exclusive", at);
                for (const f of ["Error", "Cause"]) {
                    if (state[f] === undefined) continue;
                    if (typeof state[f] !== "string") this.schema(`The field '${f}' must be a string`, `${at}/${f}`);
                    else if (language === "JSONata") this.jsonataTemplate(state[f], `${at}/${f}`);
                }
                for (const f of ["ErrorPath", "CausePath"]) if (state[f] !== undefined) this.pathOrIntrinsic(state[f], `${at}/${f}`);
                break;
            case "Parallel":
                if (!Array.isArray(state.Branches) || state.Branches.length === 0) this.schema("The field 'Branches' must be a non-empty array", `${at}/Branches`);
                else state.Branches.forEach((b, i) => nested.push([b, `${at}/Branches[${i}]`, language]));
                break;
            case "Map": {
                const processorField = state.ItemProcessor !== undefined ? "ItemProcessor" : "Iterator";
                if (state.ItemProcessor !== undefined && state.Iterator !== undefined) this.schema("ItemProcessor and Iterator are mutually exclusive", at);
                const processor = state[processorField];
                if (processor === undefined) this.schema("A Map state must have 'ItemProcessor'", at);
                else {
                    if (isPlainObject(processor) && processor.ProcessorConfig !== undefined) {
                        const config = processor.ProcessorConfig;
                        if (!isPlainObject(config)) this.schema("ProcessorConfig must be an object", `${at}/${processorField}/ProcessorConfig`);
                        else {
                            for (const k of Object.keys(config)) if (!["Mode", "ExecutionType"].includes(k)) this.schema(`The field '${k}' is not supported by Step Functions`, `${at}/${processorField}/ProcessorConfig/${k}`);
                            // A distributed Map over its input's items runs as an inline one does, with its failure
                            // thresholds; reading items from S3 (ItemReader) or writing results there is refused above.
                            if (config.Mode !== undefined && config.Mode !== "INLINE" && config.Mode !== "DISTRIBUTED") this.schema("Mode must be INLINE or DISTRIBUTED", `${at}/${processorField}/ProcessorConfig/Mode`);
                            if (config.Mode === "DISTRIBUTED" && config.ExecutionType !== "STANDARD" && config.ExecutionType !== "EXPRESS") this.schema("A DISTRIBUTED ProcessorConfig needs ExecutionType STANDARD or EXPRESS", `${at}/${processorField}/ProcessorConfig/ExecutionType`);
                            if (config.Mode !== "DISTRIBUTED" && config.ExecutionType !== undefined) this.schema("ExecutionType applies to a DISTRIBUTED ProcessorConfig only", `${at}/${processorField}/ProcessorConfig/ExecutionType`);
                        }
                    }
                    nested.push([processor, `${at}/${processorField}`, language]);
                }
                if (state.ItemSelector !== undefined && state.Parameters !== undefined) this.schema("ItemSelector and Parameters are mutually exclusive", at);
                if (state.ItemsPath !== undefined && state.ItemsPath !== null) this.path(state.ItemsPath, `${at}/ItemsPath`, { allowVariables: true });
                if (state.MaxConcurrency !== undefined) this.numberField(state.MaxConcurrency, `${at}/MaxConcurrency`, language, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer");
                if (state.ToleratedFailureCount !== undefined) this.numberField(state.ToleratedFailureCount, `${at}/ToleratedFailureCount`, language, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer");
                if (state.ToleratedFailurePercentage !== undefined) this.numberField(state.ToleratedFailurePercentage, `${at}/ToleratedFailurePercentage`, language, (n) => n >= 0 && n <= 100, "a number from 0 to 100");
                for (const [a, b] of [["MaxConcurrency", "MaxConcurrencyPath"], ["ToleratedFailureCount", "ToleratedFailureCountPath"], ["ToleratedFailurePercentage", "ToleratedFailurePercentagePath"]]) {
                    if (state[a] !== undefined && state[b] !== undefined) this.schema(`${a} and ${b} are mutually exclusive`, at);
                }
                break;
            }
            case "Pass":
                if (state.Result !== undefined && state.Parameters !== undefined) {
                    // AWS accepts both; Result wins. Nothing to check.
                }
                break;
        }
        if (type === "Task" || type === "Parallel" || type === "Map") this.retriersAndCatchers(state, at, stateNames, language, names);
    }
}

/** Returns the problems found in a definition (empty when the engine can run it). */
export function definitionDiagnostics(definition: unknown): DefinitionDiagnostic[] {
    const checker = new Checker();
    checker.machine(definition, "", "JSONPath", new Set(), true);
    return checker.diagnostics;
}

/** Throws InvalidDefinitionError listing every problem (field named by its path, e.g. /States/Foo/Next). */
export function validateDefinition(definition: unknown): void {
    const diagnostics = definitionDiagnostics(definition);
    if (diagnostics.length) throw new InvalidDefinitionError(diagnostics);
}
