/**
 * `GET /chargeback?month=YYYY-MM[&format=csv]`: per organisation and repository, the jobs completed in the month, their
 * billed minutes and cost, with a total. The rows come from the table's month index (handlers/report.ts queries it;
 * no scan); summing them is here, with no SDK, so the CLI and the tests use the same code.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { MONTH, PRICE_SOURCE } from "./model";

/** What the month index holds of each completed job. */
export interface IndexedJob {
    jobId: string;
    organisation: string;
    repository: string;
    billedMinutes: number;
    cost: number;
    priceSource: string;
}

export interface ReportRow {
    organisation: string;
    repository: string;
    jobs: number;
    minutes: number;
    /** USD. */
    cost: number;
    /** Jobs whose price could not be found: counted in `jobs` and `minutes`, at a cost of 0. */
    priceUnknownJobs: number;
}

export interface ChargebackReport {
    month: string;
    currency: "USD";
    rows: ReportRow[];
    total: Omit<ReportRow, "organisation" | "repository">;
}

/** Sums at full precision, then rounds what is shown: minutes to 2 decimals, USD to 6 (below a thousandth of a cent). */
const round = (value: number, decimals: number): number => Number(value.toFixed(decimals));

export function summarise(month: string, jobs: readonly IndexedJob[]): ChargebackReport {
    const rows = new Map<string, ReportRow>();
    for (const job of jobs) {
        const key = `${job.organisation}\u0000${job.repository}`;
        const row = rows.get(key) ?? { organisation: job.organisation, repository: job.repository, jobs: 0, minutes: 0, cost: 0, priceUnknownJobs: 0 };
        row.jobs += 1;
        row.minutes += job.billedMinutes;
        row.cost += job.cost;
        if (job.priceSource === PRICE_SOURCE.unknown) row.priceUnknownJobs += 1;
        rows.set(key, row);
    }
    const sorted = [...rows.values()].sort((a, b) => a.organisation.localeCompare(b.organisation) || a.repository.localeCompare(b.repository));
    const total = { jobs: 0, minutes: 0, cost: 0, priceUnknownJobs: 0 };
    for (const row of sorted) {
        total.jobs += row.jobs;
        total.minutes += row.minutes;
        total.cost += row.cost;
        total.priceUnknownJobs += row.priceUnknownJobs;
    }
    return {
        month,
        currency: "USD",
        rows: sorted.map((row) => ({ ...row, minutes: round(row.minutes, 2), cost: round(row.cost, 6) })),
        total: { ...total, minutes: round(total.minutes, 2), cost: round(total.cost, 6) },
    };
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
const csvField = (value: string | number): string => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

export function reportCsv(report: ChargebackReport): string {
    const lines = [["organisation", "repository", "jobs", "minutes", "cost_usd", "price_unknown_jobs"]];
    for (const row of report.rows) lines.push([row.organisation, row.repository, String(row.jobs), String(row.minutes), String(row.cost), String(row.priceUnknownJobs)]);
    const { total } = report;
    lines.push(["TOTAL", "", String(total.jobs), String(total.minutes), String(total.cost), String(total.priceUnknownJobs)]);
    return lines.map((line) => line.map(csvField).join(",")).join("\r\n") + "\r\n";
}

export interface ReportDeps {
    /** Every job the month index holds for `month`, all pages. */
    jobsOf(month: string): Promise<IndexedJob[]>;
}

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
});

export async function handleReportRequest(event: APIGatewayProxyEventV2, deps: ReportDeps): Promise<APIGatewayProxyStructuredResultV2> {
    const query = event.queryStringParameters ?? {};
    const month = query.month;
    if (month === undefined || !MONTH.test(month)) {
        return json(400, { code: "BadRequestException", message: `month is required as YYYY-MM (2025-06), got ${JSON.stringify(month ?? null)}` });
    }
    const format = query.format ?? "json";
    if (format !== "json" && format !== "csv") return json(400, { code: "BadRequestException", message: `format must be json or csv, got ${JSON.stringify(format)}` });
    const report = summarise(month, await deps.jobsOf(month));
    if (format === "json") return json(200, report);
    return { statusCode: 200, headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="chargeback-${month}.csv"` }, body: reportCsv(report) };
}

/** The report as a text table, for a terminal (the CLI and the demo). */
export function reportTable(report: ChargebackReport): string {
    const header = ["organisation", "repository", "jobs", "minutes", "cost (USD)", "price unknown"];
    const body = report.rows.map((r) => [r.organisation, r.repository, String(r.jobs), r.minutes.toFixed(2), r.cost.toFixed(6), String(r.priceUnknownJobs)]);
    const { total } = report;
    const footer = ["TOTAL", "", String(total.jobs), total.minutes.toFixed(2), total.cost.toFixed(6), String(total.priceUnknownJobs)];
    const rows = [header, ...body, footer];
    const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    // Text columns left-aligned, figures right-aligned.
    const line = (r: string[]) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
    const rule = widths.map((w) => "-".repeat(w)).join("  ");
    return [`chargeback ${report.month} (${report.currency})`, line(header), rule, ...body.map(line), rule, line(footer)].join("\n");
}
