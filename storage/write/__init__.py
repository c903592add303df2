"""The write path, from a logged value to a stored row: the records producers queue
(records.py); the background Writer with its queue and threads (writer.py), what waits
in it (staging.py: chunks, batches, the spool journal) and its link to the store
(link.py: connecting, outage episodes, heartbeats, spool replay); the delivery of
records and spool files with poison isolation and dead letters (delivery.py); the
crash-safe spool files (spool/); and the ingest of a batch in one transaction
(ingest.py, with rollup_writer.py for roll-ups and summaries, columns.py for point
columns, multirow.py and pgcopy.py for multi-row INSERT and PostgreSQL COPY).
`trackboard sync` (sync.py) delivers spool files left behind."""
