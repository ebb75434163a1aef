/**
 * Step Functions writes execution logs through CloudWatch Logs log deliveries ("vended logs"). AWS does not
 * scope these actions to a resource, so a state machine's role must hold them on `*`. Kept free of imports:
 * the policy pack allows exactly these on `*` and reads the list from here.
 */
export const LOG_DELIVERY_ACTIONS: readonly string[] = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];
