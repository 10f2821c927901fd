"""Crontab expressions and their fire times in a time zone, across daylight-saving changes.

`expression` reads the five fields as crontab(5) does; `trigger` maps matching wall-clock
minutes to instants and is an APScheduler 3 trigger. It imports nothing of mailengine.
"""

from mailengine.cron.expression import CronExpression
from mailengine.cron.trigger import CrontabTrigger, crontab_trigger

__all__ = ["CronExpression", "CrontabTrigger", "crontab_trigger"]
