/**
 * EventBridge rules' schedule expressions: `rate(value unit)` and the 6-field `cron(minutes hours day-of-month
 * month day-of-week year)`, in UTC as AWS evaluates them, with the wildcards AWS documents (`, - * / ? L W #`).
 * No npm library parses this dialect (a year field, `?`, day-of-week 1 = Sunday, `nW`, `LW`, `n#k`, `nL`); the
 * common cron libraries read 5 or 6 fields with seconds first and 0 = Sunday, so a match would be silently wrong.
 * Anything outside the dialect is refused with AWS's ValidationException, naming what was not understood.
 */
import { AwsError } from "../../core/awsError";

export type Schedule = { kind: "rate"; periodMs: number } | { kind: "cron"; cron: CronSchedule };

/** One cron field as the set of values it allows (day fields also keep their special forms). */
interface CronSchedule {
    minutes: Set<number>;
    hours: Set<number>;
    months: Set<number>;
    years: Set<number>;
    /** Day-of-month: `?` (any, day-of-week decides) or the days it names. */
    dayOfMonth: "any" | DaySpec[];
    /** Day-of-week: `?` or the days it names (1 = Sunday ... 7 = Saturday). */
    dayOfWeek: "any" | DaySpec[];
}

type DaySpec =
    | { kind: "values"; values: Set<number> }
    | { kind: "lastDayOfMonth" }
    | { kind: "lastWeekdayOfMonth" }
    | { kind: "nearestWeekday"; day: number }
    | { kind: "lastOfWeekday"; weekday: number }
    | { kind: "nthWeekday"; weekday: number; nth: number };

const MINUTE = 60_000;
const RATE_UNITS: Record<string, number> = { minute: MINUTE, hour: 60 * MINUTE, day: 24 * 60 * MINUTE };
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/** The years AWS's cron accepts. */
const FIRST_YEAR = 1970;
const LAST_YEAR = 2199;

/** AWS's answer to any schedule it cannot read, with what was not understood after it (AWS's sentence comes first, as clients match it). */
function invalid(reason: string): AwsError {
    return new AwsError("ValidationException", `Parameter ScheduleExpression is not valid. Reason: ${reason}`);
}

export function parseScheduleExpression(expression: string): Schedule {
    const rate = /^rate\((.*)\)$/.exec(expression);
    if (rate) return { kind: "rate", periodMs: parseRate(rate[1]) };
    const cron = /^cron\((.*)\)$/.exec(expression);
    if (cron) return { kind: "cron", cron: parseCron(cron[1]) };
    throw invalid(`${JSON.stringify(expression)} is neither rate(...) nor cron(...)`);
}

/** `1 minute`, `5 minutes`, `1 hour`, `2 days`: AWS wants the singular unit for 1 and the plural for more. */
function parseRate(body: string): number {
    const match = /^(\d+) ([a-z]+)$/.exec(body.trim());
    if (!match) throw invalid(`rate(${body}): expected rate(value unit), for example rate(5 minutes)`);
    const value = Number(match[1]);
    if (!Number.isSafeInteger(value) || value < 1) throw invalid(`rate(${body}): the value must be a positive whole number`);
    const unit = match[2];
    const singular = unit.endsWith("s") ? unit.slice(0, -1) : unit;
    const period = RATE_UNITS[singular];
    if (period === undefined || !Object.hasOwn(RATE_UNITS, singular)) throw invalid(`rate(${body}): the unit must be minute(s), hour(s) or day(s)`);
    if ((value === 1) !== (unit === singular)) throw invalid(`rate(${body}): use ${value === 1 ? singular : `${singular}s`} with ${value}`);
    return value * period;
}

function parseCron(body: string): CronSchedule {
    const fields = body.trim().split(/\s+/);
    if (fields.length !== 6) throw invalid(`cron(${body}): EventBridge's cron has 6 fields (minutes hours day-of-month month day-of-week year), not ${fields.length}`);
    const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields;
    if ((dayOfMonth === "?") === (dayOfWeek === "?")) {
        throw invalid(`cron(${body}): exactly one of day-of-month and day-of-week must be ?`);
    }
    return {
        minutes: numberField(minutes, "minutes", 0, 59),
        hours: numberField(hours, "hours", 0, 23),
        months: numberField(month, "month", 1, 12, MONTHS),
        years: numberField(year, "year", FIRST_YEAR, LAST_YEAR),
        dayOfMonth: dayOfMonth === "?" ? "any" : dayOfMonth.split(",").map((item) => dayOfMonthItem(item)),
        dayOfWeek: dayOfWeek === "?" ? "any" : dayOfWeek.split(",").map((item) => dayOfWeekItem(item)),
    };
}

/** A value by number or (months, weekdays) by its three-letter name. */
function fieldValue(text: string, field: string, min: number, max: number, names?: string[]): number {
    const named = names?.indexOf(text.toUpperCase()) ?? -1;
    const value = named >= 0 ? named + min : /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${field} ${JSON.stringify(text)} is not a value from ${min} to ${max}`);
    return value;
}

/** `*`, `n`, `a-b`, `*\/s`, `a/s`, `a-b/s`, and lists of them separated by commas. */
function numberField(text: string, field: string, min: number, max: number, names?: string[]): Set<number> {
    const values = new Set<number>();
    for (const item of text.split(",")) {
        const match = /^([^/]+)(?:\/(\d+))?$/.exec(item);
        if (!match) throw invalid(`${field} ${JSON.stringify(item)} is not understood`);
        const [, range, stepText] = match;
        const step = stepText === undefined ? 1 : Number(stepText);
        if (step < 1) throw invalid(`${field} ${JSON.stringify(item)}: the increment must be at least 1`);
        let from: number;
        let to: number;
        if (range === "*") {
            [from, to] = [min, max];
        } else if (range.includes("-")) {
            const [a, b, ...rest] = range.split("-");
            if (rest.length > 0) throw invalid(`${field} ${JSON.stringify(item)} is not understood`);
            [from, to] = [fieldValue(a, field, min, max, names), fieldValue(b, field, min, max, names)];
            // A range that wraps (FRI-MON, 22-2) is refused rather than guessed at.
            if (from > to) throw invalid(`${field} ${JSON.stringify(item)}: a range that wraps around is not supported here`);
        } else {
            from = fieldValue(range, field, min, max, names);
            to = stepText === undefined ? from : max;
        }
        for (let v = from; v <= to; v += step) values.add(v);
    }
    return values;
}

function dayOfMonthItem(item: string): DaySpec {
    if (item === "L") return { kind: "lastDayOfMonth" };
    if (item === "LW") return { kind: "lastWeekdayOfMonth" };
    const weekday = /^(\d+)W$/.exec(item);
    if (weekday) return { kind: "nearestWeekday", day: fieldValue(weekday[1], "day-of-month", 1, 31) };
    if (/[LW#]/.test(item)) throw invalid(`day-of-month ${JSON.stringify(item)} is not supported (L, LW and nW are)`);
    return { kind: "values", values: numberField(item, "day-of-month", 1, 31) };
}

function dayOfWeekItem(item: string): DaySpec {
    // `L` alone is the week's last day, Saturday.
    if (item === "L") return { kind: "values", values: new Set([7]) };
    const last = /^(\w+)L$/.exec(item);
    if (last) return { kind: "lastOfWeekday", weekday: fieldValue(last[1], "day-of-week", 1, 7, WEEKDAYS) };
    const nth = /^(\w+)#(\d)$/.exec(item);
    if (nth) {
        const n = Number(nth[2]);
        if (n < 1 || n > 5) throw invalid(`day-of-week ${JSON.stringify(item)}: the occurrence after # must be 1 to 5`);
        return { kind: "nthWeekday", weekday: fieldValue(nth[1], "day-of-week", 1, 7, WEEKDAYS), nth: n };
    }
    if (/[LW#]/.test(item)) throw invalid(`day-of-week ${JSON.stringify(item)} is not supported (L, nL and n#k are)`);
    return { kind: "values", values: numberField(item, "day-of-week", 1, 7, WEEKDAYS) };
}

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
/** 1 = Sunday ... 7 = Saturday, as AWS's cron numbers them. */
const weekdayOf = (year: number, month: number, day: number): number => new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
const isWeekday = (weekday: number): boolean => weekday >= 2 && weekday <= 6;

function matchesDay(spec: DaySpec, year: number, month: number, day: number, field: "dom" | "dow"): boolean {
    const last = daysIn(year, month);
    const weekday = weekdayOf(year, month, day);
    switch (spec.kind) {
        case "values":
            return spec.values.has(field === "dom" ? day : weekday);
        case "lastDayOfMonth":
            return day === last;
        case "lastWeekdayOfMonth": {
            let d = last;
            while (!isWeekday(weekdayOf(year, month, d))) d--;
            return day === d;
        }
        case "nearestWeekday": {
            // The weekday nearest the given day, never leaving the month (Quartz's and AWS's W).
            if (spec.day > last) return false;
            let target = spec.day;
            const w = weekdayOf(year, month, target);
            if (w === 7) target = target === 1 ? 3 : target - 1;
            else if (w === 1) target = target === last ? target - 2 : target + 1;
            return day === target;
        }
        case "lastOfWeekday":
            return weekday === spec.weekday && day + 7 > last;
        case "nthWeekday":
            return weekday === spec.weekday && Math.ceil(day / 7) === spec.nth;
    }
}

function cronDayMatches(cron: CronSchedule, year: number, month: number, day: number): boolean {
    if (cron.dayOfMonth !== "any") return cron.dayOfMonth.some((spec) => matchesDay(spec, year, month, day, "dom"));
    if (cron.dayOfWeek !== "any") return cron.dayOfWeek.some((spec) => matchesDay(spec, year, month, day, "dow"));
    return true;
}

/** The first minute strictly after `after` (UTC) that the cron names, or undefined when none is left before 2200. */
export function nextCronTime(cron: CronSchedule, after: number): number | undefined {
    const start = new Date(Math.floor(after / MINUTE) * MINUTE + MINUTE);
    let year = start.getUTCFullYear();
    let month = start.getUTCMonth() + 1;
    let day = start.getUTCDate();
    let firstDay = true;
    const hours = [...cron.hours].sort((a, b) => a - b);
    const minutes = [...cron.minutes].sort((a, b) => a - b);
    // Day by day: at most ~84,000 days to the last year, each checked in constant time.
    while (year <= LAST_YEAR) {
        if (!cron.years.has(year)) {
            [year, month, day, firstDay] = [year + 1, 1, 1, false];
            continue;
        }
        if (!cron.months.has(month)) {
            [month, day, firstDay] = [month + 1, 1, false];
            if (month > 12) [year, month] = [year + 1, 1];
            continue;
        }
        if (cronDayMatches(cron, year, month, day)) {
            for (const hour of hours) {
                for (const minute of minutes) {
                    const at = Date.UTC(year, month - 1, day, hour, minute);
                    if (!firstDay || at >= start.getTime()) return at;
                }
            }
        }
        firstDay = false;
        day++;
        if (day > daysIn(year, month)) {
            [month, day] = [month + 1, 1];
            if (month > 12) [year, month] = [year + 1, 1];
        }
    }
    return undefined;
}

/**
 * When a schedule next fires after `after`: a rate counts whole periods from `origin` (when the rule was put, as
 * AWS starts counting then), a cron names wall-clock minutes in UTC.
 */
export function nextFireTime(schedule: Schedule, origin: number, after: number): number | undefined {
    if (schedule.kind === "cron") return nextCronTime(schedule.cron, after);
    const periods = Math.max(1, Math.floor((after - origin) / schedule.periodMs) + 1);
    return origin + periods * schedule.periodMs;
}
