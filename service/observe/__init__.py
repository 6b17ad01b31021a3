"""What operators watch: request logs with request ids, and Prometheus metrics."""
