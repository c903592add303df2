"""The read path: Store (store.py) answers the dashboard, exporters and users'
notebooks; the filter language (filters.py); downsampled history from the roll-up
tables (downsample.py); and the one bounded read a resumed run needs (run_state.py)."""
