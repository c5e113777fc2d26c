"""The study layer: parameter schema, run records and results store, run queue, recipes, reports."""
