"""Datasets, feature schema, splits and batches."""
