// Dates and times written by the page's scripts, the way the server writes them (iop_pwa/dates.py):
// the page's language (<html lang>, the locale the server chose) and the person's clock
// (<html data-clock>: "12", "24" or "" for the language's habit), with Intl.DateTimeFormat.
// Every script that writes a date or time uses IopDates.format(value, name), with the server's
// names: day, long_date, short_day, short_date, date, time, and each date name + "_time"
// (day_time...). The value is a Date, an ISO string or a number; the time zone is the device's
// (the person's, on their own phone).
(function () {
  "use strict";

  var DATES = {
    day: { weekday: "long", day: "numeric", month: "long" },
    long_date: { weekday: "long", day: "numeric", month: "long", year: "numeric" },
    short_day: { weekday: "short", day: "numeric", month: "short" },
    short_date: { weekday: "short", day: "numeric", month: "short", year: "numeric" },
    date: { day: "numeric", month: "short", year: "numeric" },
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

  function formatDate(when, base) {
    if (!Object.prototype.hasOwnProperty.call(DATES, base)) {
      throw new Error("Unknown date format: " + base);
    }
    return new Intl.DateTimeFormat(lang(), DATES[base]).format(when);
  }

  function format(value, name) {
    var when = value instanceof Date ? value : new Date(value);
    if (isNaN(when.getTime())) return "";
    name = name || "day_time";
    var time = new Intl.DateTimeFormat(lang(), timeOptions()).format(when);
    if (name === "time") return time;
    if (!/_time$/.test(name)) return formatDate(when, name);
    // The date, a comma, the time: as the server's English locales join them ("{1}, {0}");
    // Intl alone would write "Saturday 28 November at 20:45".
    return formatDate(when, name.replace(/_time$/, "")) + ", " + time;
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
