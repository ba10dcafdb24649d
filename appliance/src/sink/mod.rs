//! Rotating, Hive-partitioned Parquet tables.
