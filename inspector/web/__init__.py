"""The operator dashboard and Prometheus metrics (`web:` in station.yaml)."""
