"""The domain side of the web console: sign-in links and sessions (:mod:`.signin`), Open311 integrations and
their keys (:mod:`.integrations`), the case wall (:mod:`.wall`), statistics (:mod:`.stats`) and operators'
health figures (:mod:`.health`).

Adapter-free like the rest of ``workflows``: the bot makes sign-in links and ``/stats`` pictures from here, the
console (``web/``) serves pages from here, and neither reaches into the other.
"""
