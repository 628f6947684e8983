"""Data: video decoding, face crops, the frame cache, splits and DataModules."""
