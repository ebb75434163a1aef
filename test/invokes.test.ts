/** The data sources the mocks answer (`local/core/invokes.ts`), as the AWS provider renders them. */
import { strict as assert } from "assert";
import { mockInvoke } from "../local/core/invokes";

const context = { region: "eu-west-1", accountId: "000000000000" };
const policy = (args: Record<string, unknown>) => JSON.parse(String(mockInvoke("aws:iam/getPolicyDocument:getPolicyDocument", args, context).json));

describe("data sources under the mocks", () => {
    it("renders getPolicyDocument's statements: one-element lists as strings, principals and conditions by type", () => {
        assert.deepEqual(
            policy({
                statements: [
                    { sid: "Read", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"] },
                    {
                        effect: "Allow",
                        actions: ["sts:AssumeRole"],
                        principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }],
                        conditions: [{ test: "StringEquals", variable: "aws:SourceAccount", values: ["000000000000"] }],
                    },
                    { effect: "Deny", notActions: ["s3:*"], notResources: ["arn:aws:s3:::b"], principals: [{ type: "*", identifiers: ["*"] }] },
                ],
            }),
            {
                Version: "2012-10-17",
                Statement: [
                    { Sid: "Read", Effect: "Allow", Action: "s3:GetObject", Resource: ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"] },
                    { Effect: "Allow", Action: "sts:AssumeRole", Principal: { Service: "lambda.amazonaws.com" }, Condition: { StringEquals: { "aws:SourceAccount": "000000000000" } } },
                    { Effect: "Deny", NotAction: "s3:*", NotResource: "arn:aws:s3:::b", Principal: "*" },
                ],
            },
        );
    });

    it("merges source and override documents by Sid, as the provider does", () => {
        const source = JSON.stringify({ Statement: [{ Sid: "A", Effect: "Allow", Action: "s3:GetObject", Resource: "*" }, { Sid: "B", Effect: "Allow", Action: "s3:ListBucket", Resource: "*" }] });
        const override = JSON.stringify({ Statement: [{ Sid: "B", Effect: "Deny", Action: "s3:ListBucket", Resource: "*" }] });
        const rendered = policy({
            sourcePolicyDocuments: [source],
            overridePolicyDocuments: [override],
            statements: [{ sid: "A", actions: ["s3:PutObject"], resources: ["arn:aws:s3:::b/*"] }],
        });
        assert.deepEqual(rendered.Statement, [
            { Sid: "A", Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/*" },
            { Sid: "B", Effect: "Deny", Action: "s3:ListBucket", Resource: "*" },
        ]);
    });

    it("refuses an effect that is neither Allow nor Deny, naming the statement", () => {
        assert.throws(() => policy({ statements: [{ effect: "allow", actions: ["s3:GetObject"] }] }), /statements\[0\]\.effect must be "Allow" or "Deny"/);
    });

    it("answers getAvailabilityZones with the region's zones and ids, honouring exclusions", () => {
        const zones = mockInvoke("aws:index/getAvailabilityZones:getAvailabilityZones", { excludeNames: ["eu-west-1b"] }, context);
        assert.deepEqual([zones.names, zones.zoneIds], [["eu-west-1a", "eu-west-1c"], ["euw1-az1", "euw1-az3"]]);
        const east = mockInvoke("aws:index/getAvailabilityZones:getAvailabilityZones", {}, { ...context, region: "ap-southeast-2" });
        assert.deepEqual(east.zoneIds, ["apse2-az1", "apse2-az2", "apse2-az3"]);
    });

    it("fails any other data source, naming it", () => {
        assert.throws(() => mockInvoke("aws:ec2/getVpc:getVpc", {}, context), /does not answer the data source aws:ec2\/getVpc:getVpc/);
    });
});
