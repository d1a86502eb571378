"""What the engine (``.venv-rasa``: connectors/, rasa_addons/) and the app (``.venv``: bot/, actions/) must agree on.

Standard library only, Python 3.10+: both environments import it (from the repo root, and as part of the
installed ``linli`` package), so a rule changed here changes on both sides at once.
"""
