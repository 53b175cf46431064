"""Pushes log records to a strata server with the python-logging-loki package.

Usage: push_logging_loki.py URL COUNT
Emits COUNT records through logging_loki.LokiHandler (Loki push API v1, JSON),
tagged application=pytest-client, and exits non-zero on any handler error.
"""

import logging
import sys

import logging_loki

url, count = sys.argv[1], int(sys.argv[2])
errors = []


class Handler(logging_loki.LokiHandler):
    def handleError(self, record):  # the default handler only prints
        errors.append(sys.exc_info()[1])


handler = Handler(url=url + "/loki/api/v1/push", tags={"application": "pytest-client"}, version="1")
logger = logging.getLogger("strata-e2e")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
for i in range(count):
    logger.info("python record %d", i, extra={"tags": {"service": "trainer"}})
logger.error("python failure record")
if errors:
    print("handler errors:", errors, file=sys.stderr)
    sys.exit(1)
