"""The model server: `python -m model_server`. See model_server/README.md.

Importing this package loads nothing heavy; only `model_server.api` is meant for other packages.
"""
