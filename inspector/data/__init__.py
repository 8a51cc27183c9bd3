"""Datasets: YOLO-format reading, mask conversion and checks."""
