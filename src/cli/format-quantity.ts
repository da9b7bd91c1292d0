// Human-readable numbers for the watch view: rates with SI prefixes.

const PREFIXES = ["", "k", "M", "G", "T", "P"];

/** 1234 → "1.23k", 0 → "0", 12.5 → "12.5"; three significant digits. */
export function formatSi(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return "0";
  let v = value;
  let i = 0;
  while (v >= 999.5 && i < PREFIXES.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;
  return `${Number(v.toFixed(digits))}${PREFIXES[i]}`;
}

/** Packets per second. */
export function formatPps(pps: number): string {
  return formatSi(pps);
}

/** Bits per second from a bytes-per-second rate, e.g. "8.19Mbit/s". */
export function formatBitRate(bytesPerSecond: number): string {
  return `${formatSi(bytesPerSecond * 8)}bit/s`;
}
