"""The committee inbox: a small server-rendered web app where committees work residents' consultations,
plus an Open311 GeoReport v2 JSON API for integrators. Entry point: :func:`bot.inbox.app.create_app`."""
