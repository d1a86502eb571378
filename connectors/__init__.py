"""Chat channels that run inside the Rasa server (engine env).

Nothing here may import :mod:`bot` (pydantic 2 lives in the app env; Rasa pins pydantic 1):
the channels talk to the rest of linli only through Rasa. Pure helpers (text, memory,
ratelimit, config) use the standard library only, so the app env's tests can import them too.
"""
