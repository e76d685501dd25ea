"""The chaos run: the procedure on the local twin under faults, kills, hostile inputs, a secret
to leak and other owners' resources beside ours, with RELIABILITY.md as its report.

``python -m chaos`` (``make chaos``) runs every category and writes the report; nothing in it is
hand-written. It is an entry point like ``bench``: it drives the flows and reads the twin.
"""
