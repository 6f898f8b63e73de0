"""Exporters that turn result objects into files: CSV, JSON and Prometheus exposition."""
