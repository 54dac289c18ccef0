"""Physical operators of SQL and Table API jobs: their records are ``pyarrow.RecordBatch`` es."""
