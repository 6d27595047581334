"""What both adapters (the Telegram bot in ``bot/`` and the web console in ``web/``) share to run: the
configuration (``runtime.config``), the wiring of the domain services from it (``runtime.wiring``) and the
transcription pipeline that feeds voice reports to the domain (``runtime.voice``).

Why a package of its own: the console must not import the bot, and both need the same config and the same
services; the domain (``workflows``) never sees the config file. Imports: ``bot``/``web`` → ``runtime`` →
``workflows``/``storage``/``transcription``; ``runtime`` never imports an adapter at module level.
"""
