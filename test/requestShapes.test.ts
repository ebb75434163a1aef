/** Request type checks from the SDK's own operation shapes: AWS's SerializationException naming the member. */
import { strict as assert } from "assert";
import * as eventBridgeSdk from "@aws-sdk/client-eventbridge";
import * as stepFunctionsSdk from "@aws-sdk/client-sfn";
import { AwsError } from "../local/core/awsError";
import { requestShapes } from "../local/core/requestShapes";

function refusal(run: () => void): string {
    try {
        run();
    } catch (error) {
        assert.ok(error instanceof AwsError);
        assert.equal(error.code, "SerializationException");
        assert.equal(error.statusCode, 400);
        return error.message;
    }
    throw new Error("accepted");
}

describe("request shapes from the SDK's operation schemas", () => {
    const events = requestShapes(eventBridgeSdk);
    const states = requestShapes(stepFunctionsSdk);

    it("refuses members of the wrong JSON type, naming the member by its path", () => {
        assert.equal(refusal(() => events("PutEvents", { Entries: "x" })), "Entries must be a list, not a string");
        assert.equal(refusal(() => events("PutEvents", { Entries: [{ Source: 5 }] })), "Entries[0].Source must be a string, not a number");
        assert.equal(refusal(() => events("PutEvents", { Entries: [{ Source: "s" }, { EventBusName: 5 }] })), "Entries[1].EventBusName must be a string, not a number");
        assert.equal(refusal(() => events("PutEvents", { Entries: [{ Resources: "arn" }] })), "Entries[0].Resources must be a list, not a string");
        assert.equal(refusal(() => events("PutEvents", { Entries: ["entry"] })), "Entries[0] must be an object, not a string");
        assert.equal(refusal(() => events("ListRules", { Limit: "10" })), "Limit must be a number, not a string");
        assert.equal(refusal(() => states("StartExecution", { stateMachineArn: {} })), "stateMachineArn must be a string, not an object");
        assert.equal(refusal(() => states("GetExecutionHistory", { executionArn: "a", reverseOrder: "yes" })), "reverseOrder must be a boolean, not a string");
    });

    it("accepts well-typed requests, nulls as absent members, unknown members and unknown operations", () => {
        events("PutEvents", { Entries: [{ Source: "s", DetailType: "d", Detail: "{}", Resources: ["r"], Time: 1700000000, EventBusName: null }] });
        events("PutEvents", { Entries: [], Unknown: 5 });
        states("StartExecution", { stateMachineArn: "arn", input: "{}", name: "n" });
        states("NoSuchOperation", { anything: 5 });
        // Prototype names are member names like any other: never looked up on Object.prototype.
        events("PutEvents", { constructor: 5, __proto__: { Entries: "x" }, toString: [] });
    });
});
