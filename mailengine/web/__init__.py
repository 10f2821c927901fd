"""The HTTP side: the shop's API, unsubscribe and preference pages, tracking, health and metrics.

Build the app with `mailengine.web.app.create_app` and serve it with `mailengine.web.server`.
It may import the shared vocabulary, `workflows`, `broadcasts`, `store` and `importing`;
nothing of `engine`, `inbound` or `cli` (what it needs of the engine, such as the check a
broadcast must pass, is handed to `create_app`).
"""
