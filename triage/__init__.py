"""The case workflow: configuration, database, image store, Celery tasks, the outbox, and the clinical rules."""
