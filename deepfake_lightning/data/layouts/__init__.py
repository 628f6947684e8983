"""Dataset layouts, one module each: how a folder of that dataset is listed (items.Layout)."""
