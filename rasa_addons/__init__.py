"""Custom Rasa graph components, loaded by the Rasa server from the repo root (config.yml names them).

Runs in the engine env (Rasa 3.6, pydantic v1): must not import ``bot``.
"""
