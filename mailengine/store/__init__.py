"""The store: the only part of mailengine that talks to the database.

It owns the models and migrations, every query (customers, orders, outbox, enrollments,
events, suppressions, coupons, tickets and the support desk) and audiences compiled to SQL
from `workflows`' conditions. It may import the shared vocabulary and `workflows`' model;
nothing of `outbound`, `engine`, `inbound`, `web` or `cli`.
"""
