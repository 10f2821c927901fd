"""The engine: triggers enroll customers, enrollments walk their workflow, sends are planned.

It owns the running service (start-up order, reload, leadership, APScheduler jobs), the
planner and runner, dispatcher processes, simulation and validate's render trials. It may
import the shared vocabulary, `cron`, `render`, `workflows`, `store` and the names
`outbound` exports; nothing of `web`, `inbound` or `cli`.
"""
