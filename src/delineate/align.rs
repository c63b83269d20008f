//! Cluster x segment alignment statistics.
