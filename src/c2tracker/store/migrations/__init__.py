"""Alembic revisions of the store schema, run programmatically by :mod:`c2tracker.store.migrate`.

There is no ``alembic.ini`` and no ``env.py``: the store builds Alembic's configuration in code
so that the revisions ship inside the package and a database made by an older version is brought
up to date whenever it is opened.
"""
