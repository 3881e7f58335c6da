"""Cron schedules for the CronJob controller: the parser lives in `prophet_sre.cron` (shared with
Prophet's `schedule` trigger, which must not import the simulator); this module keeps the sim's import
path."""

from __future__ import annotations

from prophet_sre.cron import (
    MAX_SEARCH_YEARS,
    CronError,
    Schedule,
    parse,
    parse_duration,
    schedule_error,
    time_zone,
)

__all__ = ["MAX_SEARCH_YEARS", "CronError", "Schedule", "parse", "parse_duration", "schedule_error", "time_zone"]
