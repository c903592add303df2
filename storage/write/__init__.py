"""The write path, from a logged value to a stored row: the records producers queue
(records.py), the background Writer (writer.py) and what it delivers through
(delivery.py: outage, spool, replay, dead letters), the crash-safe spool files
(spool.py), and the ingest of a batch (ingest.py: point columns, multi-row INSERT or
PostgreSQL COPY, roll-ups). `trackboard sync` (sync.py) delivers spool files left
behind."""
