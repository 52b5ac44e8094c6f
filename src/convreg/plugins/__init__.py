"""convreg's own backends, each a plugin registered through the ``convreg.backends`` entry points."""
