"""Models: ResNet-50 backbones and heads, the classifier, the ensemble and the YOLO wrapper."""
