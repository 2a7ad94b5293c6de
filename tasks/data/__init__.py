"""Market data: loaders, the demo prices, synthetic markets, and the data-quality gate."""
