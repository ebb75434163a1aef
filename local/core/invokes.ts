/** The data sources the mocks answer as the AWS provider would. */
export function mockInvoke(token: string, _args: Record<string, unknown>, context: { region: string; accountId: string }): Record<string, unknown> {
    const { region, accountId } = context;
    switch (token) {
        case "aws:index/getRegion:getRegion":
            return { name: region, region, id: region, endpoint: `${region}.amazonaws.com` };
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId, arn: `arn:aws:iam::${accountId}:root`, userId: accountId, id: accountId };
        case "aws:index/getPartition:getPartition":
            return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
        default:
            throw new Error(`the offline runtime does not answer the data source ${token}`);
    }
}
