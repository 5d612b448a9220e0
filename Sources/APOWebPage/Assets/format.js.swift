extension WebPage {
    /// `/assets/format.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let formatJS = #"""
// How numbers, times and durations read on the page.

export function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/// CPU seconds (every thread of the worker) as a duration; tenths below a minute.
export function cpuTime(seconds) {
  if (seconds == null || !isFinite(seconds)) return '–';
  return seconds < 60 ? `${seconds.toFixed(1)} CPU-s` : `${duration(seconds)} CPU`;
}

/// Seconds left when `fraction` of the work took `elapsed` seconds, assuming a steady pace;
/// null while too little is done to say.
export function remaining(fraction, elapsed) {
  if (!(fraction > 0.01) || fraction >= 1 || !(elapsed > 0)) return null;
  return elapsed * (1 - fraction) / fraction;
}

export function etaText(fraction, elapsed) {
  const left = remaining(fraction, elapsed);
  return left == null ? '' : `≈ ${duration(left)} left`;
}

/// A date-time of the API (ISO 8601) as local time; the date only when it is not today.
export function time(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  const clock = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  if (date.toDateString() === new Date().toDateString()) return clock;
  return `${date.toISOString().slice(0, 10)} ${clock}`;
}

export function bytes(n) {
  if (n == null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/// A metric value: four significant digits, no exponent for everyday sizes.
export function number(value) {
  if (value == null || !isFinite(value)) return '–';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

export function percent(fraction) {
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}
"""#
}
