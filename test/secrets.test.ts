/**
 * Secrets Manager and SSM Parameter Store through the runtime's endpoint, with the real
 * `@aws-sdk/client-secrets-manager` and `@aws-sdk/client-ssm`, on a runtime of `test/fixtures/queuesAndSecrets`:
 * values the program declares as Pulumi secrets are served, versions and stages move as AWS moves them, SecureString
 * values need WithDecryption, local IAM applies, and no value reaches the runtime's log or `/_choreography/resources`.
 */
import { strict as assert } from "assert";
import * as path from "path";
import * as SecretsManager from "@aws-sdk/client-secrets-manager";
import * as Ssm from "@aws-sdk/client-ssm";
import { evaluateStack } from "../local/core/evaluate";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";

const PROGRAM = path.join(__dirname, "fixtures", "queuesAndSecrets");
const DECLARED_VALUES = ["correct-horse-battery-staple", "k-123", "s-456", "param-secret-value"];

async function refusedWith(call: Promise<unknown>, name: string, messagePart?: RegExp): Promise<void> {
    await assert.rejects(call, (error: Error) => {
        assert.equal(error.name, name, error.message);
        if (messagePart) assert.match(error.message, messagePart);
        return true;
    });
}

describe("Secrets Manager and SSM Parameter Store through the endpoint, on a runtime of test/fixtures/queuesAndSecrets", function () {
    this.timeout(30_000);
    let runtime: TestRuntime;
    let secrets: SecretsManager.SecretsManagerClient;
    let ssm: Ssm.SSMClient;
    const logged: string[] = [];

    before(async () => {
        const evaluated = await evaluateStack({ program: PROGRAM, stack: "dev" });
        runtime = await startTestRuntime({ evaluated, verbose: true, log: (line) => logged.push(line) });
        const config = { endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS };
        secrets = new SecretsManager.SecretsManagerClient(config);
        ssm = new Ssm.SSMClient(config);
    });
    after(async () => {
        secrets?.destroy();
        ssm?.destroy();
        await runtime?.close();
    });

    const probeClient = <C>(make: (config: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } }) => C): C => {
        const environment = runtime.services.lambda.functions.get("probe")!.environment;
        return make({ endpoint: runtime.url, region: runtime.stack.region, credentials: { accessKeyId: environment.AWS_ACCESS_KEY_ID, secretAccessKey: environment.AWS_SECRET_ACCESS_KEY } });
    };

    it("serves the values the program declared as Pulumi secrets, by name, ARN or partial ARN", async () => {
        const arn = String(runtime.stack.outputs.dbPasswordArn);
        assert.match(arn, /^arn:aws:secretsmanager:us-east-1:000000000000:secret:app\/db-password-[A-Za-z0-9]{6}$/);
        for (const SecretId of ["app/db-password", arn, arn.slice(0, -7)]) {
            const value = await secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId }));
            assert.deepEqual([value.ARN, value.Name, value.SecretString, value.VersionStages], [arn, "app/db-password", "correct-horse-battery-staple", ["AWSCURRENT"]]);
            assert.ok(value.CreatedDate instanceof Date);
        }
        const json = await secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "app/api-key" }));
        assert.deepEqual(JSON.parse(json.SecretString!), { key: "k-123", secret: "s-456" });
        const described = await secrets.send(new SecretsManager.DescribeSecretCommand({ SecretId: arn }));
        assert.equal(described.Description, "the database password");
        assert.deepEqual(Object.values(described.VersionIdsToStages ?? {}), [["AWSCURRENT"]]);
        await refusedWith(secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "app/nothing" })), "ResourceNotFoundException", /can't find the specified secret/);
    });

    it("moves AWSCURRENT to a new version and AWSPREVIOUS to the old one; creates secrets over the API", async () => {
        const created = await secrets.send(new SecretsManager.CreateSecretCommand({ Name: "made/over-api", SecretString: "v1" }));
        assert.ok(created.VersionId);
        await refusedWith(secrets.send(new SecretsManager.CreateSecretCommand({ Name: "made/over-api", SecretString: "again" })), "ResourceExistsException");
        const put = await secrets.send(new SecretsManager.PutSecretValueCommand({ SecretId: "made/over-api", SecretString: "v2", ClientRequestToken: "11111111-2222-3333-4444-555555555555" }));
        assert.deepEqual(put.VersionStages, ["AWSCURRENT"]);
        const retried = await secrets.send(new SecretsManager.PutSecretValueCommand({ SecretId: "made/over-api", SecretString: "v2", ClientRequestToken: "11111111-2222-3333-4444-555555555555" }));
        assert.equal(retried.VersionId, put.VersionId, "the same token and value is a retry");
        await refusedWith(
            secrets.send(new SecretsManager.PutSecretValueCommand({ SecretId: "made/over-api", SecretString: "other", ClientRequestToken: "11111111-2222-3333-4444-555555555555" })),
            "ResourceExistsException",
        );
        assert.equal((await secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "made/over-api" }))).SecretString, "v2");
        const previous = await secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "made/over-api", VersionStage: "AWSPREVIOUS" }));
        assert.deepEqual([previous.SecretString, previous.VersionId], ["v1", created.VersionId]);
        const binary = await secrets.send(new SecretsManager.CreateSecretCommand({ Name: "made/binary", SecretBinary: new Uint8Array([0, 255, 7]) }));
        const read = await secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: binary.ARN }));
        assert.deepEqual([...(read.SecretBinary ?? [])], [0, 255, 7]);
        await secrets.send(new SecretsManager.CreateSecretCommand({ Name: "made/empty" }));
        await refusedWith(secrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "made/empty" })), "ResourceNotFoundException", /staging label: AWSCURRENT/);
    });

    it("answers parameters: String and StringList as they are, SecureString only WithDecryption", async () => {
        const host = await ssm.send(new Ssm.GetParameterCommand({ Name: "/app/db/host" }));
        assert.deepEqual([host.Parameter?.Value, host.Parameter?.Type, host.Parameter?.Version, host.Parameter?.ARN], ["db.internal", "String", 1, "arn:aws:ssm:us-east-1:000000000000:parameter/app/db/host"]);
        const hidden = await ssm.send(new Ssm.GetParameterCommand({ Name: "/app/db/password" }));
        assert.equal(hidden.Parameter?.Type, "SecureString");
        assert.ok(hidden.Parameter?.Value && hidden.Parameter.Value !== "param-secret-value", "the ciphertext's stand-in, not the value");
        const shown = await ssm.send(new Ssm.GetParameterCommand({ Name: "/app/db/password", WithDecryption: true }));
        assert.equal(shown.Parameter?.Value, "param-secret-value");
        const many = await ssm.send(new Ssm.GetParametersCommand({ Names: ["/app/zones", "/app/db/host", "/app/missing"], WithDecryption: true }));
        assert.deepEqual(many.Parameters?.map((p) => [p.Name, p.Value]), [["/app/zones", "us-east-1a,us-east-1b"], ["/app/db/host", "db.internal"]]);
        assert.deepEqual(many.InvalidParameters, ["/app/missing"]);
        await refusedWith(ssm.send(new Ssm.GetParameterCommand({ Name: "/app/missing" })), "ParameterNotFound");
    });

    it("puts parameters: new versions only with Overwrite, older versions by selector", async () => {
        await refusedWith(ssm.send(new Ssm.PutParameterCommand({ Name: "/app/db/host", Value: "elsewhere", Type: "String" })), "ParameterAlreadyExists");
        const put = await ssm.send(new Ssm.PutParameterCommand({ Name: "/app/db/host", Value: "db2.internal", Overwrite: true }));
        assert.equal(put.Version, 2);
        assert.equal((await ssm.send(new Ssm.GetParameterCommand({ Name: "/app/db/host" }))).Parameter?.Value, "db2.internal");
        assert.equal((await ssm.send(new Ssm.GetParameterCommand({ Name: "/app/db/host:1" }))).Parameter?.Value, "db.internal");
        await refusedWith(ssm.send(new Ssm.GetParameterCommand({ Name: "/app/db/host:9" })), "ParameterVersionNotFound");
        const fresh = await ssm.send(new Ssm.PutParameterCommand({ Name: "/app/new", Value: "x", Type: "SecureString" }));
        assert.equal(fresh.Version, 1);
    });

    it("checks a function's key against its role", async () => {
        const asProbeSecrets = probeClient((config) => new SecretsManager.SecretsManagerClient(config));
        const asProbeSsm = probeClient((config) => new Ssm.SSMClient(config));
        try {
            assert.equal((await asProbeSecrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "app/db-password" }))).SecretString, "correct-horse-battery-staple");
            await refusedWith(asProbeSecrets.send(new SecretsManager.GetSecretValueCommand({ SecretId: "app/api-key" })), "AccessDeniedException");
            await refusedWith(asProbeSecrets.send(new SecretsManager.PutSecretValueCommand({ SecretId: "app/db-password", SecretString: "x" })), "AccessDeniedException");
            assert.ok((await asProbeSsm.send(new Ssm.GetParameterCommand({ Name: "/app/db/host" }))).Parameter);
            await refusedWith(asProbeSsm.send(new Ssm.GetParameterCommand({ Name: "/app/db/password", WithDecryption: true })), "AccessDeniedException");
        } finally {
            asProbeSecrets.destroy();
            asProbeSsm.destroy();
        }
    });

    it("never shows a stored value in the runtime's log or in /_choreography/resources", async () => {
        const listing = await (await fetch(`${runtime.url}/_choreography/resources`)).text();
        assert.match(listing, /app\/db-password/, "the secret is listed by name");
        assert.match(listing, /\/app\/db\/password/, "the parameter is listed by name");
        for (const value of DECLARED_VALUES) {
            assert.ok(!listing.includes(value), `the listing holds ${value}`);
            assert.ok(!logged.some((line) => line.includes(value)), `a log line holds ${value}`);
        }
        assert.ok(logged.some((line) => line.includes("secret app/db-password")), "served secrets are logged by name");
    });
});
