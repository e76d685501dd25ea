"""The logger every layer passes down: a plain logger or Prefect's run logger (an adapter)."""

from __future__ import annotations

import logging

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
