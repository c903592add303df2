"""The read path: Store (store.py) answers the dashboard, exporters and users'
notebooks, one module per concern (store_base.py: opening and connections;
run_queries.py: the runs table and one run; history.py: metric points; admin.py:
rename, tags, delete); the filter language (filters.py, parsed by filter_syntax.py,
compiled by filter_sql.py); downsampled history from the roll-up tables
(downsample.py); and the one bounded read a resumed run needs (run_state.py)."""
