"""The HTTP side: the shop's API, unsubscribe and preference pages, tracking, health and metrics.

Build the app with `mailengine.web.app.create_app` and serve it with `mailengine.web.server`.
`mailengine.web.tracking_links.rewrite_links` has no web dependencies (the composer uses it).
"""
