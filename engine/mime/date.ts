// The Date header (RFC 5322 3.3 with the obsolete forms of 4.3): two-digit years, named zones,
// comments, missing seconds. Anything else gives null; nothing throws, and no clock is read.

const months = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const namedZones: Record<string, number> = { ut: 0, utc: 0, gmt: 0, z: 0, edt: -240, est: -300, cdt: -300, cst: -360, mdt: -360, mst: -420, pdt: -420, pst: -480 };

export interface ParsedDate {
  readonly ms: number;
  readonly offsetMinutes: number;
}

export function parseDate(value: string | null): ParsedDate | null {
  if (value === null) return null;
  const text = value.replace(/\([^)]*\)/g, ' ').toLowerCase();
  const match = /(\d{1,2})[\s-]+([a-z]{3})[a-z]*[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([+-]\d{4}|[a-z]{1,5})?/.exec(text);
  if (match === null) return null;
  const day = Number(match[1]);
  const month = months.indexOf(match[2]!);
  let year = Number(match[3]);
  if (match[3]!.length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 4.3
  else if (match[3]!.length === 3) year += 1900;
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = match[6] === undefined ? 0 : Number(match[6]);
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let offsetMinutes = 0;
  const zone = match[7];
  if (zone !== undefined) {
    if (/^[+-]\d{4}$/.test(zone)) {
      const hours = Number(zone.slice(1, 3));
      const minutes = Number(zone.slice(3, 5));
      if (minutes > 59) return null;
      offsetMinutes = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
    } else offsetMinutes = namedZones[zone] ?? 0; // military and unknown zones: RFC 5322 4.3 says treat as -0000
  }
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offsetMinutes * 60_000;
  return Number.isFinite(ms) ? { ms, offsetMinutes } : null;
}
