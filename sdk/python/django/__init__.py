"""Only ``django.urls`` (``path``, ``re_path``, ``register_converter``), for
Channels' ``routing.py``. A wasmsock plugin has no Django: no settings, no
ORM, no apps. See ``docs/python.md`` in the wasmsock repository."""

VERSION = (4, 2, 0, "final", 0)


def setup(set_prefix=True):
    """Nothing to set up: there are no Django settings or apps here."""
