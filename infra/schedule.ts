/**
 * EventBridge schedule expressions, parsed as EventBridge's rules define them, and the longest gap
 * between two runs that the probe's alarm periods are derived from. Pure: a string in, a typed
 * schedule or the reason it is refused out.
 *
 * Source: "Schedule expressions for rules", Amazon EventBridge User Guide:
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html (cron)
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html (rate)
 */

export type RateUnit = "minute" | "hour" | "day";

export interface RateSchedule {
  readonly kind: "rate";
  readonly expression: string;
  readonly value: number;
  readonly unit: RateUnit;
}

/** One cron field as the set of values it selects (day fields keep their special forms). */
export interface CronSchedule {
  readonly kind: "cron";
  readonly expression: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  /** `?` is undefined; otherwise the day-of-month items. */
  readonly daysOfMonth?: readonly DayOfMonthItem[];
  readonly months: readonly number[];
  /** `?` is undefined; otherwise the day-of-week items (1 = Sunday ... 7 = Saturday). */
  readonly daysOfWeek?: readonly DayOfWeekItem[];
  /** undefined: `*` (every year). */
  readonly years?: readonly number[];
}

export type DayOfMonthItem = { readonly day: number } | { readonly last: true } | { readonly nearestWeekday: number };
export type DayOfWeekItem = { readonly day: number } | { readonly lastOfMonth: number } | { readonly nth: number; readonly day: number };

export type Schedule = RateSchedule | CronSchedule;

export type ParseResult = { readonly ok: true; readonly schedule: Schedule } | { readonly ok: false; readonly reason: string };

/** What the config error says is accepted. */
export const SCHEDULE_ACCEPTED =
  "an EventBridge schedule: rate(1 minute), rate(N minutes) (N > 1; likewise hour/hours, day/days), or cron(minutes hours day-of-month month day-of-week year) with `?` in exactly one of day-of-month and day-of-week, e.g. cron(0/5 * * * ? *)";

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;

export function parseSchedule(expression: string): ParseResult {
  if (expression.startsWith("rate(")) return parseRate(expression);
  if (expression.startsWith("cron(") && expression.endsWith(")")) return parseCron(expression);
  return { ok: false, reason: "it is neither rate(...) nor cron(...)" };
}

function parseRate(expression: string): ParseResult {
  const m = RATE.exec(expression);
  if (!m) return { ok: false, reason: "a rate expression is rate(value unit) with a positive integer value and a unit of minute(s), hour(s) or day(s)" };
  const value = Number(m[1]);
  const word = m[2]!;
  const unit = word.replace(/s$/, "") as RateUnit;
  // "If the value is equal to 1, then the unit must be singular. If the value is greater than 1, the unit must be plural."
  if (value < 1 || !Number.isSafeInteger(value)) return { ok: false, reason: "the value must be a positive integer" };
  if (value === 1 && word !== unit) return { ok: false, reason: `a value of 1 takes the singular unit: rate(1 ${unit})` };
  if (value > 1 && word === unit) return { ok: false, reason: `a value above 1 takes the plural unit: rate(${value} ${unit}s)` };
  return { ok: true, schedule: { kind: "rate", expression, value, unit } };
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

class CronFieldError extends Error {}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

// Value ranges and wildcards per field, from the cron table of the EventBridge guide.
const FIELDS = {
  minutes: { name: "minutes", min: 0, max: 59 },
  hours: { name: "hours", min: 0, max: 23 },
  dayOfMonth: { name: "day-of-month", min: 1, max: 31 },
  month: { name: "month", min: 1, max: 12, names: MONTHS },
  dayOfWeek: { name: "day-of-week", min: 1, max: 7, names: WEEKDAYS },
  year: { name: "year", min: 1970, max: 2199 },
} satisfies Record<string, FieldSpec>;

function value(spec: FieldSpec, text: string): number {
  const upper = text.toUpperCase();
  const named = spec.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + 1;
  if (!/^\d+$/.test(text)) throw new CronFieldError(`${spec.name}: "${text}" is not a number from ${spec.min} to ${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names[spec.names.length - 1]}` : ""}`);
  const n = Number(text);
  if (n < spec.min || n > spec.max) throw new CronFieldError(`${spec.name}: ${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

/** `,` lists, `-` ranges, `*` and `/` increments: the wildcards every field shares. */
function numbers(spec: FieldSpec, field: string): number[] {
  const out = new Set<number>();
  for (const item of field.split(",")) {
    if (item === "") throw new CronFieldError(`${spec.name}: empty item in "${field}"`);
    const [base, stepText, extra] = item.split("/");
    if (extra !== undefined) throw new CronFieldError(`${spec.name}: "${item}" has more than one /`);
    let from: number;
    let to: number;
    if (base === "*") [from, to] = [spec.min, spec.max];
    else if (base!.includes("-")) {
      const [a, b, more] = base!.split("-");
      if (more !== undefined || a === undefined || b === undefined) throw new CronFieldError(`${spec.name}: "${item}" is not a range a-b`);
      [from, to] = [value(spec, a), value(spec, b)];
      // Wrapping ranges (FRI-MON) are not in the guide; refused rather than guessed at.
      if (from > to) throw new CronFieldError(`${spec.name}: range ${base} runs backwards`);
    } else {
      from = value(spec, base!);
      // "1/10": from 1 every 10 to the field's end.
      to = stepText === undefined ? from : spec.max;
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) throw new CronFieldError(`${spec.name}: increment "${stepText}" is not a positive integer`);
      step = Number(stepText);
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function daysOfMonth(field: string): DayOfMonthItem[] {
  const items: DayOfMonthItem[] = [];
  const plain: string[] = [];
  for (const item of field.split(",")) {
    if (item === "L") items.push({ last: true });
    else if (/^\d+W$/.test(item)) items.push({ nearestWeekday: value(FIELDS.dayOfMonth, item.slice(0, -1)) });
    else plain.push(item);
  }
  if (plain.length > 0) for (const day of numbers(FIELDS.dayOfMonth, plain.join(","))) items.push({ day });
  return items;
}

function daysOfWeek(field: string): DayOfWeekItem[] {
  const items = field.split(",");
  // "If you use the '#' character, you can define only one expression in the day-of-week field."
  if (items.length > 1 && items.some((i) => i.includes("#"))) throw new CronFieldError(`day-of-week: "${field}": with # the field holds one expression only`);
  const out: DayOfWeekItem[] = [];
  const plain: string[] = [];
  for (const item of items) {
    const nth = /^([A-Za-z]+|\d+)#(\d+)$/.exec(item);
    const last = /^([A-Za-z]+|\d+)?L$/.exec(item);
    if (nth) {
      const n = Number(nth[2]);
      if (n < 1 || n > 5) throw new CronFieldError(`day-of-week: "${item}": the instance after # is 1 to 5`);
      out.push({ nth: n, day: value(FIELDS.dayOfWeek, nth[1]!) });
    } else if (last) {
      // Plain L is the last day of the week (Saturday, 7); "6L" is the month's last Friday.
      if (last[1] === undefined) out.push({ day: 7 });
      else out.push({ lastOfMonth: value(FIELDS.dayOfWeek, last[1]) });
    } else plain.push(item);
  }
  if (plain.length > 0) for (const day of numbers(FIELDS.dayOfWeek, plain.join(","))) out.push({ day });
  return out;
}

function parseCron(expression: string): ParseResult {
  const fields = expression.slice("cron(".length, -1).trim().split(/\s+/);
  // "Cron expressions have six required fields, which are separated by white space."
  if (fields.length !== 6) return { ok: false, reason: `a cron expression has six fields (minutes hours day-of-month month day-of-week year); this one has ${fields.length}` };
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  // "You can't specify the Day-of-month and Day-of-week fields in the same cron expression. If you
  // specify a value or a * (asterisk) in one of the fields, you must use a ? (question mark) in the other."
  if ((dom === "?") === (dow === "?")) return { ok: false, reason: "exactly one of day-of-month and day-of-week must be ?" };
  try {
    return {
      ok: true,
      schedule: {
        kind: "cron",
        expression,
        minutes: numbers(FIELDS.minutes, min),
        hours: numbers(FIELDS.hours, hour),
        daysOfMonth: dom === "?" ? undefined : daysOfMonth(dom),
        months: numbers(FIELDS.month, month),
        daysOfWeek: dow === "?" ? undefined : daysOfWeek(dow),
        years: year === "*" ? undefined : numbers(FIELDS.year, year),
      },
    };
  } catch (err) {
    if (err instanceof CronFieldError) return { ok: false, reason: err.message };
    throw err;
  }
}

const DAY_SECONDS = 86400;

/** Does the cron schedule run on this UTC date? (EventBridge cron is in UTC.) */
export function cronRunsOn(s: CronSchedule, date: Date): boolean {
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth() + 1;
  const d = date.getUTCDate();
  const weekday = date.getUTCDay() + 1; // 1 = Sunday
  if (s.years !== undefined && !s.years.includes(y)) return false;
  if (!s.months.includes(m)) return false;
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
  if (s.daysOfMonth !== undefined) {
    return s.daysOfMonth.some((item) => {
      if ("day" in item) return item.day === d;
      if ("last" in item) return d === lastDay;
      return nearestWeekday(y, m, Math.min(item.nearestWeekday, lastDay)) === d;
    });
  }
  return s.daysOfWeek!.some((item) => {
    if ("nth" in item) return item.day === weekday && Math.ceil(d / 7) === item.nth;
    if ("lastOfMonth" in item) return item.lastOfMonth === weekday && d + 7 > lastDay;
    return item.day === weekday;
  });
}

/** The weekday (Mon-Fri) nearest to day `day` of the month, not leaving the month (Quartz's W). */
function nearestWeekday(y: number, m: number, day: number): number {
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const wd = new Date(Date.UTC(y, m - 1, day)).getUTCDay();
  if (wd === 6) return day === 1 ? 3 : day - 1; // Saturday: Friday before, or Monday after the 1st
  if (wd === 0) return day === lastDay ? day - 2 : day + 1; // Sunday: Monday after, or Friday before the month's end
  return day;
}

/**
 * The longest time between two consecutive runs, in seconds; Infinity when the schedule stops
 * (a year field that ends, or fewer than two runs in the window). For cron the days are walked
 * over an 8-year window from 2024 (two leap years, every weekday/date combination), which finds
 * the longest gap of any schedule that repeats.
 */
export function longestGapSeconds(s: Schedule): number {
  if (s.kind === "rate") return s.value * (s.unit === "minute" ? 60 : s.unit === "hour" ? 3600 : DAY_SECONDS);
  if (s.years !== undefined) return Infinity; // it runs out after its last year
  const times = s.hours.flatMap((h) => s.minutes.map((m) => h * 3600 + m * 60));
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  const start = Date.UTC(2024, 0, 1);
  let previousDay: number | undefined;
  let runDays = 0;
  for (let day = 0; day < 8 * 366; day++) {
    if (!cronRunsOn(s, new Date(start + day * DAY_SECONDS * 1000))) continue;
    runDays++;
    if (previousDay !== undefined) gap = Math.max(gap, (day - previousDay) * DAY_SECONDS + times[0]! - times[times.length - 1]!);
    previousDay = day;
  }
  return runDays < 2 ? Infinity : gap;
}
