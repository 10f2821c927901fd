"""Broadcasts: one-off mail (the newsletter, the sale) to an audience at a set time.

This package owns what a broadcast *is*: the typed model of a `broadcasts/NAME.yaml` file
(audience, template, subject, variants, when it goes), its loader and validation with
`file:line:col` problems, the A/B split (which customer lands in which variant, by a keyed
hash of their id) and the choice of a winner from figures. It knows nothing of SQL, SMTP or
HTTP: the store plans a broadcast into the outbox, the engine runs its schedule.

May import: `mailengine.workflows` (the audience DSL and its problems), `mailengine.render`
(template checks), and the shared vocabulary at the top level.
"""
