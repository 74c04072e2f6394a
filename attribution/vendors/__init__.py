"""Vendor adapters: one module per conversion API, all fulfilling ``attribution.vendors.base.Vendor``."""
