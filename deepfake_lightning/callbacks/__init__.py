"""Lightning and Hydra callbacks: threshold calibration, W&B plots, throughput, sweep summaries."""
