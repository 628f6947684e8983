"""Lightning callbacks: threshold calibration and confusion-matrix logging."""
