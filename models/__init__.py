"""The care models: one module each, found by name through `models.registry`."""
