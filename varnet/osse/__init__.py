"""The embedded synthetic ocean (OSSE): a QG truth, simulated satellites, files like real ones.

Use :func:`varnet.osse.generate.generate` with an :class:`varnet.osse.config.OsseConfig`, or the
``varnet-osse`` command.
"""
