"""Review widgets for the %codex magics.

``live`` talks to the lab extension, ``apply`` runs accept → validate → roll back,
``review`` and ``stream`` are the ipywidgets, ``render`` their HTML (also the
static fallback), ``terminal`` the plain-text y/n review of a terminal IPython.
Nothing is imported here: ``%load_ext codex_nb`` must not pay for ipywidgets.
"""
