"""The web console: a sibling adapter of the Telegram bot (``bot/``) for the governance centre and officials.

It calls the domain (``workflows``) with the same services and the same rights as the bot, shares the texts
(``i18n``) and the runtime (config, wiring), and never imports ``bot``; the domain never imports it.
``web.app.create_app`` builds the ASGI application; ``runtime.serve`` runs it (with or without the bot).
"""
