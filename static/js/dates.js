// Dates and times written by the page's scripts, the way the server writes them (iop_pwa/dates.py):
// the page's language (<html lang>, the locale the server chose) and the person's clock
// (<html data-clock>: "12", "24" or "" for the language's habit), with Intl.DateTimeFormat.
// Every script that writes a date or time uses IopDates.format(value, name); the names are the
// server's: day, short_day, time, day_time, short_day_time, short_date_time. The value is a Date,
// an ISO string or a number; the time zone is the device's (the person's, on their own phone).
(function () {
  "use strict";

  var DATES = {
    day: { weekday: "long", day: "numeric", month: "long" },
    short_day: { weekday: "short", day: "numeric", month: "short" },
    short_date: { weekday: "short", day: "numeric", month: "short", year: "numeric" },
  };

  function lang() {
    return document.documentElement.lang || undefined;
  }

  function timeOptions() {
    var clock = document.documentElement.dataset.clock;
    var options = { hour: "numeric", minute: "2-digit" };
    if (clock === "12") options.hourCycle = "h12";
    if (clock === "24") { options.hourCycle = "h23"; options.hour = "2-digit"; }
    return options;
  }

  function options(name) {
    if (name === "time") return timeOptions();
    var base = name.replace(/_time$/, "");
    var picked = Object.assign({}, DATES[base]);
    if (!DATES[base]) throw new Error("Unknown date format: " + name);
    if (base !== name) Object.assign(picked, timeOptions());
    return picked;
  }

  function format(value, name) {
    var when = value instanceof Date ? value : new Date(value);
    if (isNaN(when.getTime())) return "";
    return new Intl.DateTimeFormat(lang(), options(name || "day_time")).format(when);
  }

  // "in 3 hours", "in 2 days": minutes from now, in the page's language.
  function relative(minutes) {
    var words = new Intl.RelativeTimeFormat(lang(), { numeric: "auto" });
    if (Math.abs(minutes) < 60) return words.format(minutes, "minute");
    if (Math.abs(minutes) < 48 * 60) return words.format(Math.round(minutes / 60), "hour");
    return words.format(Math.round(minutes / 1440), "day");
  }

  window.IopDates = { format: format, relative: relative };
})();
